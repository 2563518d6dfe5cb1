/// <reference types="vitest/config" />
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const src = (p: string): string => fileURLToPath(new URL(`./src/${p}`, import.meta.url));

// Django serves frontend/dist through STATICFILES_DIRS under STATIC_URL=/static/,
// so dist/assets/x.js is reachable at /static/assets/x.js.  Templates look up
// hashed file names in dist/.vite/manifest.json (keys: "src/main.ts", "src/upload.ts", "src/viewer.ts").
export default defineConfig({
  base: "/static/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    manifest: true,
    target: "es2022",
    sourcemap: true,
    rollupOptions: {
      input: {
        main: src("main.ts"),
        upload: src("upload.ts"),
        viewer: src("viewer.ts"),
        modeling: src("modeling.ts"),
        review: src("review.ts"),
        dashboards: src("dashboards.ts"),
        readerstudy: src("readerstudy.ts"),
      },
    },
  },
  test: {
    environment: "happy-dom",
    environmentOptions: { happyDOM: { url: "http://localhost:8000/studies/" } },
    include: ["tests/**/*.test.ts"],
    pool: "threads",
    restoreMocks: true,
  },
});
