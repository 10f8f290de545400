import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { api } from './lib/api';
import { forwardErrors } from './lib/uilog';

async function start() {
  const params = new URLSearchParams(window.location.search);
  let initial: string | null = null;
  // Dev/screenshot mode only: a fake shell when there is no real one.
  if (params.has('mock') && !('__TAURI_INTERNALS__' in window)) {
    const { installMock } = await import('./mock/tauriMock');
    installMock(params);
    initial = params.get('screen');
  }
  // In the real shell, the webview's errors go to kiosk.log.
  if ('__TAURI_INTERNALS__' in window && !params.has('mock')) forwardErrors(api.uiLog);
  mount(App, { target: document.getElementById('app')!, props: { initial } });
}

void start();
