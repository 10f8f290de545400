// The screen's colour contrast against WCAG 2.2 AA, from computed styles: every visible text
// (4.5:1, or 3:1 when large: 24 px, or 18.66 px bold) and every text field's border (3:1: it
// is the field's only outline) against the colour actually behind it. That colour is built
// the way the page is painted: each ancestor's background composited from the root down, and
// every ancestor with opacity below 1 blending what it painted (text and backgrounds alike)
// into what was behind it, so a greyed (opacity 0.45) button is measured as it shows.
// Text over a picture (a canvas, an image, a gradient) has no one colour behind it and is not
// measured. Run as a WebDriver script body: returns the failures, worst first, as
// {who, text, ratio, need, fg, bg}.

const parse = (c) => {
  const m = c && c.match(/rgba?\(([^)]+)\)/);
  if (!m) return null;
  const p = m[1].split(/[,\s/]+/).filter(Boolean).map(Number);
  return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
};
// `top` (with its alpha) over the opaque `under`.
const over = (top, under) => {
  const a = top[3];
  return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a)).concat(1);
};
const mix = (c, back, o) => [0, 1, 2].map((i) => c[i] * o + back[i] * (1 - o)).concat(1);
const lum = (c) => {
  const l = c.slice(0, 3).map((v) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2];
};
const ratio = (a, b) => {
  const x = lum(a);
  const y = lum(b);
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
};
const hex = (c) => '#' + c.slice(0, 3).map((v) => Math.round(v).toString(16).padStart(2, '0')).join('');

const shown = (e) => {
  const r = e.getBoundingClientRect();
  const s = getComputedStyle(e);
  return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
};

// The colours `color` (of `e`'s text) and its background end up as on screen, or null when
// there is a picture behind it.
function painted(e, color) {
  const chain = [];
  for (let n = e; n && n.nodeType === 1; n = n.parentElement) chain.unshift(n);
  let under = [255, 255, 255, 1];
  const groups = [];
  for (const n of chain) {
    const s = getComputedStyle(n);
    if (n !== e && ['CANVAS', 'IMG', 'VIDEO', 'svg'].includes(n.tagName)) return null;
    if (s.backgroundImage && s.backgroundImage !== 'none') return null;
    const o = Number(s.opacity);
    if (o < 1) groups.push({ back: under, o });
    const bg = parse(s.backgroundColor);
    if (bg && bg[3] > 0) under = over(bg, under);
  }
  let fg = over(color, under);
  let bg = under;
  for (const g of groups.reverse()) {
    fg = mix(fg, g.back, g.o);
    bg = mix(bg, g.back, g.o);
  }
  return { fg, bg };
}

const who = (e) => {
  const t = e.closest('[data-testid]');
  const id = t ? t.getAttribute('data-testid') : '';
  return (id ? id + ' ' : '') + e.tagName.toLowerCase() + (e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\s+/).join('.') : '');
};

const out = [];
for (const e of document.querySelectorAll('body *')) {
  if (!shown(e)) continue;
  const s = getComputedStyle(e);
  const field = e.tagName === 'INPUT' || e.tagName === 'TEXTAREA';
  const text = field
    ? e.type === 'password' ? '•'.repeat(e.value.length) : e.value
    : [...e.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join('').trim();
  const color = parse(s.color);
  if (text && color && color[3] > 0) {
    const p = painted(e, color);
    if (p) {
      const px = parseFloat(s.fontSize);
      const large = px >= 24 || (px >= 18.66 && Number(s.fontWeight) >= 700);
      const need = large ? 3 : 4.5;
      const r = ratio(p.fg, p.bg);
      if (r < need) out.push({ who: who(e), text: text.slice(0, 40), ratio: Math.round(r * 100) / 100, need, fg: hex(p.fg), bg: hex(p.bg) });
    }
  }
  if (field && parseFloat(s.borderTopWidth) > 0) {
    const line = parse(s.borderTopColor);
    const p = line && e.parentElement && painted(e.parentElement, line);
    if (p) {
      const r = ratio(p.fg, p.bg);
      if (r < 3) out.push({ who: who(e) + ' border', text: '', ratio: Math.round(r * 100) / 100, need: 3, fg: hex(p.fg), bg: hex(p.bg) });
    }
  }
}
return out.sort((a, b) => a.ratio - b.ratio);
