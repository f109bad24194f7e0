// Launch Debian's chromium (never a downloaded browser) through playwright-core, headless, with
// the flags from /work/shared/DEVICES.md, a fresh profile folder and, by default, a Pixel 7
// profile (viewport, device scale, touch, Android UA; the CPU stays the host's).
// EDGEBERT_CHROMIUM: another chromium binary; EDGEBERT_E2E_PROFILE: a playwright device name, or "desktop".
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, devices } from "playwright-core";

export const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

export async function launchPhone() {
  const name = process.env.EDGEBERT_E2E_PROFILE || "Pixel 7";
  const profile = name === "desktop" ? {} : devices[name];
  if (!profile) throw new Error(`unknown EDGEBERT_E2E_PROFILE ${name}: a playwright-core device name or "desktop"`);
  const dir = mkdtempSync(join(tmpdir(), "edgebert-chromium-"));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.EDGEBERT_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
    ...profile,
  });
  const close = async () => {
    await context.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { context, close };
}
