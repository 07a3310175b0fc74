// Bundles the browser code into web/dist, which is committed: the Rust binaries embed it
// (include_bytes!), so `cargo run -p cjaas-local` needs no npm. `--check` rebuilds into a
// temporary folder and fails when web/dist differs, so a stale bundle cannot land.
//
//   node web/build.mjs          rebuild web/dist
//   node web/build.mjs --check  verify web/dist is what the sources build to
import * as esbuild from "esbuild";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

// One line per bundle: source entry point -> file in web/dist.
const bundles = [
  { entry: "tag/cjaas.js", out: "tag.js" },
  { entry: "components/index.js", out: "components.js" },
  { entry: "console/app.js", out: "console/app.js", format: "esm" },
];

// Static files copied as they are: source -> folder in web/dist.
const statics = [
  { from: "console/index.html", to: "console/index.html" },
  { from: "console/console.css", to: "console/console.css" },
  { from: "docs", to: "docs" },
  { from: "node_modules/swagger-ui-dist/swagger-ui-bundle.js", to: "docs/swagger-ui-bundle.js" },
  { from: "node_modules/swagger-ui-dist/swagger-ui.css", to: "docs/swagger-ui.css" },
];

async function build(outdir) {
  mkdirSync(outdir, { recursive: true });
  for (const { entry, out, format = "iife" } of bundles) {
    await esbuild.build({
      entryPoints: [join(here, entry)],
      outfile: join(outdir, out),
      bundle: true,
      minify: true,
      format,
      target: ["es2020"],
      legalComments: "none",
      logLevel: "warning",
    });
  }
  for (const { from, to } of statics) {
    mkdirSync(dirname(join(outdir, to)), { recursive: true });
    cpSync(join(here, from), join(outdir, to), { recursive: true });
  }
}

// Every file under `dir`, as relative paths; dotfiles (such as .keep) are not bundles.
function listFiles(dir, prefix = "") {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => !entry.name.startsWith("."))
    .flatMap((entry) =>
    entry.isDirectory()
      ? listFiles(join(dir, entry.name), join(prefix, entry.name))
      : [join(prefix, entry.name)],
  );
}

const dist = join(here, "dist");
if (process.argv.includes("--check")) {
  const fresh = mkdtempSync(join(tmpdir(), "cjaas-web-"));
  try {
    await build(fresh);
    const want = listFiles(fresh).sort();
    const have = listFiles(dist).sort();
    const stale = want.filter(
      (file) => !have.includes(file) || !readFileSync(join(fresh, file)).equals(readFileSync(join(dist, file))),
    );
    const extra = have.filter((file) => !want.includes(file));
    if (stale.length || extra.length) {
      console.error(`web/dist is stale: rebuild with \`node web/build.mjs\` (stale: ${stale}; extra: ${extra})`);
      process.exit(1);
    }
    console.log(`web/dist is up to date (${want.length} files)`);
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
} else {
  rmSync(dist, { recursive: true, force: true });
  await build(dist);
  console.log(`built web/dist (${listFiles(dist).length} files)`);
}
