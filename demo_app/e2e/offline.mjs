// Installability/offline check: load the app once, go offline, reload, predict again.
//   node e2e/offline.mjs URL TEXT   -> prints {online_label, offline_label, offline_state, manifest}
import { launchPhone } from "./launch.mjs";

const [url, text] = process.argv.slice(2);
const timeout = Number(process.env.EDGEBERT_E2E_TIMEOUT_MS || 120000);
const { context, close } = await launchPhone();
const predict = async (page) => {
  await page.waitForSelector("#status[data-state=ready], #status[data-state=error]", { timeout });
  const state = await page.getAttribute("#status", "data-state");
  if (state !== "ready") return { state, label: null };
  const p = await page.evaluate((t) => window.edgebert.predict(t), text);
  return { state, label: p.label };
};
let out;
try {
  const page = await context.newPage();
  await page.goto(url);
  const online = await predict(page);
  await page.evaluate(async () => { await navigator.serviceWorker.ready; });
  await page.waitForSelector("html[data-offline=ready]", { timeout }); // bundle + runtimes cached
  const manifest = await page.evaluate(async () => {
    const link = document.querySelector('link[rel="manifest"]');
    return link ? (await (await fetch(link.href)).json()).name : null;
  });
  await context.setOffline(true);
  await page.reload();
  const offline = await predict(page);
  out = { online_label: online.label, offline_label: offline.label, offline_state: offline.state, manifest };
} finally {
  await close();
}
console.log(JSON.stringify(out));
