// Drive Debian's chromium (never a downloaded browser) through playwright-core, as a phone.
//   node e2e/run.mjs demo  URL TEXT SCREENSHOT.png   -> prints {label, probabilities, p50_ms, engine, ...}
//   node e2e/run.mjs bench URL                        -> waits until the bench page has posted its result
import { launchPhone } from "./launch.mjs";

const [mode, url, text, shot] = process.argv.slice(2);
const timeout = Number(process.env.EDGEBERT_E2E_TIMEOUT_MS || 120000);
const { context, close } = await launchPhone();
let out;
try {
  const page = await context.newPage();
  // everything the page reported as broken: uncaught exceptions and console.error (tests assert none)
  const errors = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e}`));
  page.on("console", (m) => { if (m.type() === "error") errors.push(`console.error: ${m.text()}`); });
  await page.goto(url);
  if (mode === "demo") {
    await page.waitForSelector("#status[data-state=ready], #status[data-state=error]", { timeout });
    const state = await page.getAttribute("#status", "data-state");
    if (state !== "ready") throw new Error(`app failed to load: ${await page.textContent("#status")}`);
    await page.fill("#text", text);
    await page.tap("#run");
    await page.waitForFunction((t) => document.querySelector("#latency")?.dataset.p50Ms, text, { timeout });
    const probabilities = await page.$$eval(".prob", (els) =>
      Object.fromEntries(els.map((e) => [e.dataset.label, Number(e.dataset.value)])));
    const api = await page.evaluate(async (t) => {
      const info = await window.edgebert.ready;
      const p = await window.edgebert.predict(t);
      return { info, logits: p.logits, input_ids: p.input_ids };
    }, text);
    if (shot) await page.screenshot({ path: shot, fullPage: true });
    out = { label: (await page.textContent("#label")).trim(), probabilities,
            p50_ms: Number(await page.getAttribute("#latency", "data-p50-ms")), ...api,
            viewport: page.viewportSize(), user_agent: await page.evaluate(() => navigator.userAgent), errors };
  } else if (mode === "bench") {
    await page.waitForSelector("body[data-state=done], body[data-state=error]", { timeout });
    out = { state: await page.getAttribute("body", "data-state"), errors };
  } else {
    throw new Error(`unknown mode ${mode}: use demo or bench`);
  }
} finally {
  await close();
}
console.log(JSON.stringify(out));
