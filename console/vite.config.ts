import { defineConfig } from "vite";
import preact from "@preact/preset-vite";

// Served by the binary at /console/ (see src/console.rs); the output is committed and must be
// byte-for-byte reproducible: content-hashed names, no source maps, no timestamps.
export default defineConfig({
  base: "/console/",
  plugins: [preact({ devToolsEnabled: false, prefreshEnabled: false })],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    target: "es2020",
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
});
