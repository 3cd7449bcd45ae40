import { defineConfig } from "vitest/config";

// Pure modules run under Node; DOM tests opt in to happy-dom with a
// `// @vitest-environment happy-dom` comment at the top of the file.
export default defineConfig({
  test: {
    include: ["js/**/*.test.ts"],
    environment: "node",
  },
});
