/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

// access-server serves console/dist at /console (embedded in release builds). `npm run dev`
// proxies the API to a server on 127.0.0.1:8787 (scripts/run.sh's address).
export default defineConfig({
  root,
  base: '/console/',
  plugins: [svelte()],
  clearScreen: false,
  server: {
    proxy: {
      '/console/api': 'http://127.0.0.1:8787',
      '/v2/access': 'http://127.0.0.1:8787',
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: ['es2021', 'safari15', 'chrome105'],
    sourcemap: false,
    // One small bundle; no inline scripts or styles (the server's CSP allows neither).
    assetsInlineLimit: 0,
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
