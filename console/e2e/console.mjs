// The console end to end in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core) against a running `ml-connector demo --keep-running`.
//
//   node console/e2e/console.mjs <console_url> <admin_token> <viewer_token> <connection_id>
//        <shipped_sales_order> <its_tracking_number> <failed_sales_order>
//
// Exits 0 when every step held; otherwise prints the step that failed and exits 1.
// CONSOLE_SCREENSHOTS=<dir> also writes console-*.png of the main pages there.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [consoleUrl, adminToken, viewerToken, connectionId, shippedNo, tracking, failedNo] =
  process.argv.slice(2);
if (!failedNo) {
  console.error("usage: console.mjs <console_url> <admin_token> <viewer_token> <connection_id> <shipped_no> <tracking> <failed_no>");
  process.exit(2);
}
const shots = process.env.CONSOLE_SCREENSHOTS;
const origin = new URL(consoleUrl).origin;
const WAIT = 30_000;

let step = "start";
const problems = [];
function check(ok, what) {
  if (!ok) throw new Error(what);
}

async function shot(page, name) {
  if (shots) await page.screenshot({ path: join(shots, `console-${name}.png`), fullPage: true });
}

async function api(query, variables, token) {
  const r = await fetch(`${origin}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await r.json();
  if (body.errors) throw new Error(`API: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/// A page whose console errors (CSP refusals, exceptions) are collected as problems.
async function newPage(context, who) {
  const page = await context.newPage();
  page.on("console", (m) => {
    // The wrong-token step's 401 is expected; any other error (a CSP refusal) is not.
    if (m.type() === "error" && !m.text().includes("status of 401")) {
      problems.push(`${who} console error: ${m.text()}`);
    }
  });
  page.on("pageerror", (e) => problems.push(`${who} page error: ${e.message}`));
  return page;
}

async function signIn(page, token) {
  await page.goto(consoleUrl);
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Console" }).waitFor({ timeout: WAIT });
}

const profile = mkdtempSync(join(tmpdir(), "mlc-console-e2e-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 860 },
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
let failed = false;
try {
  const page = await newPage(context, "admin");

  step = "a wrong token is refused";
  await page.goto(consoleUrl);
  await page.getByLabel("API token").fill("mlc_not-a-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").filter({ hasText: "unknown or revoked token" }).waitFor({ timeout: WAIT });

  step = "sign in as admin";
  await page.getByLabel("API token").fill(adminToken);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Console" }).waitFor({ timeout: WAIT });
  check((await page.getByTestId("role").textContent()) === "admin", "the role shown is not admin");

  step = "the token stays in this tab only";
  const stored = await page.evaluate(() => ({ s: sessionStorage.length, l: localStorage.length, c: document.cookie }));
  check(stored.s === 1 && stored.l === 0 && stored.c === "", `storage: ${JSON.stringify(stored)}`);

  step = "keyboard: the first Tab reaches the skip link, the next ones the navigation";
  await page.keyboard.press("Tab");
  check((await page.evaluate(() => document.activeElement?.textContent)) === "Skip to the page", "skip link not focused first");
  await page.keyboard.press("Tab");
  check((await page.evaluate(() => document.activeElement?.textContent)) === "Search", "Search link not next");

  step = `search ${shippedNo} by its Sage number and see its tracking`;
  await page.getByLabel("Sales order, ShipStation order, tracking number or customer").fill(shippedNo);
  await page.keyboard.press("Enter");
  const row = page.getByTestId("search-row").filter({ hasText: shippedNo });
  await row.waitFor({ timeout: WAIT });
  check((await row.getByTestId("search-tracking").textContent()).includes(tracking), "tracking not in the result row");
  await shot(page, "search");
  await row.getByRole("link", { name: shippedNo }).click();
  await page.getByTestId("tracking").filter({ hasText: tracking }).waitFor({ timeout: WAIT });
  check((await page.getByTestId("order-number").textContent()) === shippedNo, "wrong order opened");
  const events = await page.getByTestId("timeline").locator("li").count();
  check(events >= 5, `only ${events} events in the timeline`);
  check((await page.getByText("Written to Sage").count()) === 1, "no Written to Sage section");
  await page.getByText("Live: this page follows changes").waitFor({ timeout: WAIT });
  check(await page.getByRole("button", { name: "Re-check now" }).isVisible(), "admin sees no Re-check button");
  await shot(page, "order");

  step = "search by the tracking number finds the same order";
  await page.getByRole("link", { name: "Search" }).click();
  await page.getByLabel("Sales order, ShipStation order, tracking number or customer").fill(tracking);
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.getByTestId("search-row").filter({ hasText: shippedNo }).waitFor({ timeout: WAIT });

  step = `${failedNo} is in Needs attention, grouped by its error`;
  await page.getByRole("link", { name: "Needs attention" }).click();
  const group = page.getByTestId("attention-group").filter({ hasText: "is not an ISO 3166 country code" });
  await group.getByRole("link", { name: failedNo }).waitFor({ timeout: WAIT });
  await shot(page, "attention");

  step = "cure the mapping through the API (orders.countries), then Restart in the page";
  await api(
    `mutation($id: ID!, $s: JSON!) { updateConnection(id: $id, settings: $s) { id } }`,
    { id: connectionId, s: { orders: { countries: { ZZZ: "US" } } } },
    adminToken,
  );
  await group.getByRole("link", { name: failedNo }).click();
  await page.getByTestId("order-status").filter({ hasText: "failed" }).waitFor({ timeout: WAIT });
  await page.getByText("Live: this page follows changes").waitFor({ timeout: WAIT });
  await page.getByRole("group", { name: "Actions" }).getByRole("button", { name: "Restart" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.waitFor({ timeout: WAIT });
  check((await dialog.textContent()).includes(`Restart order ${failedNo}`), "the confirmation names another order");
  await shot(page, "confirm");
  await dialog.getByRole("button", { name: "Restart" }).click();
  await page.getByTestId("action-result").filter({ hasText: "Restarted" }).waitFor({ timeout: WAIT });

  step = `${failedNo} reaches ShipStation (the page follows by itself)`;
  await page.getByTestId("order-now").filter({ hasText: "in ShipStation" }).waitFor({ timeout: 60_000 });
  check((await page.getByTestId("order-error").count()) === 0, "the old error is still shown");

  step = "the failed order left Needs attention";
  await page.getByRole("link", { name: "Needs attention" }).click();
  await page.getByRole("heading", { name: /^Workflows/ }).waitFor({ timeout: WAIT });
  check((await page.getByRole("link", { name: failedNo }).count()) === 0, `${failedNo} is still listed`);

  step = "connections: feeds, rate budgets, the fit report run from the page";
  await page.getByRole("link", { name: "Connections" }).click();
  await page.getByTestId("connection").first().waitFor({ timeout: WAIT });
  await page.getByRole("button", { name: "Run the fit report" }).first().click();
  await page.getByTestId("fit-verdict").first().waitFor({ timeout: 60_000 });
  check(/^(Fits|Does not fit)/.test(await page.getByTestId("fit-verdict").first().textContent()), "no fit verdict shown");
  check((await page.getByText(/ShipStation V1 on the busiest day: \d+ of \d+ calls/).count()) >= 1, "no capacity line");
  check((await page.getByText("Last good run").count()) >= 1, "no last good run column");
  check(await page.getByRole("button", { name: "Test every path now" }).isVisible(), "admin sees no test button");
  await shot(page, "connections");

  step = "a tablet width: nothing wider than the screen";
  const ids = await api(`query($t: String!) { searchOrders(text: $t) { id } }`, { t: shippedNo }, adminToken);
  const shippedPath = `order/${ids.searchOrders[0].id}`;
  await page.setViewportSize({ width: 768, height: 1024 });
  for (const path of ["connections", "attention", shippedPath]) {
    await page.goto(`${origin}/console/${path}`);
    await page.getByRole("navigation", { name: "Console" }).waitFor({ timeout: WAIT });
    await page.getByRole("heading", { level: 1 }).waitFor({ timeout: WAIT });
    const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(wide <= 1, `${path} is ${wide} px wider than a tablet`);
  }
  await page.getByTestId("tracking").first().waitFor({ timeout: WAIT });
  await shot(page, "tablet");

  step = "a viewer sees no buttons that would fail";
  const viewer = await newPage(context, "viewer");
  await signIn(viewer, viewerToken);
  check((await viewer.getByTestId("role").textContent()) === "viewer", "the role shown is not viewer");
  for (const path of [shippedPath, "attention", "connections"]) {
    await viewer.goto(`${origin}/console/${path}`);
    await viewer.getByRole("heading", { level: 1 }).waitFor({ timeout: WAIT });
    await viewer.waitForLoadState("networkidle");
    const buttons = await viewer.locator("main button").allTextContents();
    check(buttons.length === 0, `viewer sees buttons on ${path}: ${buttons.join(", ")}`);
  }

  step = "no console errors (CSP refusals, exceptions)";
  check(problems.length === 0, problems.join("\n"));
  console.log("console e2e: every step held");
} catch (e) {
  failed = true;
  console.error(`console e2e FAILED at step “${step}”: ${e.message}`);
  if (problems.length) console.error(problems.join("\n"));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
