// Drives Debian's Chromium (playwright-core, no browser download) through the install console,
// one whole journey per run (with or without JavaScript, desktop or phone width), and prints
// what it saw as JSON on stdout. Run by app-backend/tests/it/console_browser.rs, which starts a
// world per run (attio-sandbox, the fake auth plugin, the backend) and a control server for
// what the Attio app or the auth server's operator does.
//
// usage: node run.mjs '<json: {shots, users, banReason, runs: [{label, js, width, height,
//                        base, control, connection}]}>'
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const input = JSON.parse(process.argv[2] || "null");
if (!input || !Array.isArray(input.runs)) {
	console.error("usage: node run.mjs '<json of runs>' (see console_browser.rs)");
	process.exit(2);
}
mkdirSync(input.shots, { recursive: true });

const STEP_MS = 15000;
const BACKFILL_MS = 90000;
const started = Date.now();
const out = { runs: [], screenshots: [] };
const problems = [];

const browser = await chromium.launch({
	executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
	headless: true,
	timeout: 30000,
	args: [
		"--no-sandbox",
		"--disable-gpu",
		"--disable-quic",
		"--no-first-run",
		"--disable-background-networking",
		"--disable-component-update",
		"--disable-sync",
	],
});

/** A step that names itself in the error when it fails. */
async function step(run, name, fn) {
	run.step = name;
	try {
		return await fn();
	} catch (e) {
		throw new Error(`${run.label}: step "${name}" failed: ${e.message}`);
	}
}

function check(cond, message) {
	if (!cond) throw new Error(message);
}

/** What the Attio app or the auth server's operator does, asked of the Rust side. */
async function control(r, path, body) {
	const res = await fetch(r.control + path, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify(body),
		signal: AbortSignal.timeout(STEP_MS),
	});
	check(res.ok, `control ${path} answered ${res.status}`);
	return res.json();
}

/** Submits the form around `button` and waits for the page it leads to. */
async function submit(page, button) {
	await Promise.all([page.waitForNavigation({ timeout: STEP_MS }), page.click(button, { timeout: STEP_MS })]);
}

async function shot(page, r, name) {
	const path = `${input.shots}/${r.label}-${name}.png`;
	await page.screenshot({ path, fullPage: true });
	out.screenshots.push(path);
}

/** Nothing wider than the viewport (no sideways scrolling), and the header's brand and
 * sign-out on one line each (taller than two font sizes is wrapped); recorded by page. */
async function layout(page, seen, name) {
	const wide = await page.evaluate(
		() => document.documentElement.scrollWidth > document.documentElement.clientWidth,
	);
	if (wide) seen.overflow.push(name);
	const wrapped = await page.evaluate(() =>
		[...document.querySelectorAll("header .brand, header button.link")]
			.filter((el) => el.getBoundingClientRect().height > 2 * parseFloat(getComputedStyle(el).fontSize))
			.map((el) => el.textContent.trim()),
	);
	for (const w of wrapped) seen.overflow.push(`${name}: "${w}" wraps`);
}

async function journey(r) {
	const seen = { label: r.label, overflow: [], done: false };
	const t0 = Date.now();
	out.runs.push(seen);
	const context = await browser.newContext({
		javaScriptEnabled: r.js,
		viewport: { width: r.width, height: r.height },
	});
	context.setDefaultTimeout(STEP_MS);
	// CSP violations as console errors (runs only with JavaScript; without it, Chromium still
	// logs a refused resource on the console).
	await context.addInitScript(() => {
		document.addEventListener("securitypolicyviolation", (e) =>
			console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`),
		);
	});
	const page = await context.newPage();
	const origin = new URL(r.base).origin;
	page.on("console", (m) => {
		if (m.type() === "error" || m.type() === "warning")
			problems.push(`${r.label} (${r.step}): console ${m.type()}: ${m.text()} (${m.location().url})`);
	});
	page.on("pageerror", (e) => problems.push(`${r.label} (${r.step}): page error: ${e.message}`));
	page.on("requestfailed", (req) => {
		// A navigation cut short by the next refresh is not a failure of the page.
		if (req.url().startsWith(origin) && req.failure()?.errorText !== "net::ERR_ABORTED")
			problems.push(`${r.label} (${r.step}): request failed: ${req.url()} ${req.failure()?.errorText}`);
	});
	page.on("response", (res) => {
		if (res.url().startsWith(origin) && res.status() >= 400)
			problems.push(`${r.label} (${r.step}): ${res.status()} for ${res.url()}`);
	});

	try {
		await step(r, "sign in through Attio's OAuth", async () => {
			await page.goto(r.base + "/console");
			check(new URL(page.url()).pathname === "/console/login", `not sent to sign in: ${page.url()}`);
			await shot(page, r, "1-login");
			await layout(page, seen, "login");
			await submit(page, "button:has-text('Sign in with Attio')");
			await page.waitForURL(/\/console\/install$/, { timeout: STEP_MS });
			await page.waitForSelector("text=Paste the connection string");
			check(await page.isVisible("text=Sign out"), "no sign-out: not signed in");
			await shot(page, r, "2-install");
			await layout(page, seen, "install");
		});

		await step(r, "paste the string, run the checks", async () => {
			await page.fill("#connection", r.connection);
			await submit(page, "button:has-text('Run the checks')");
			seen.passes = await page.locator(".check.pass").count();
			seen.fails = await page.locator(".check.fail").count();
			check(seen.fails === 0, `failed checks: ${await page.textContent(".checks")}`);
			await shot(page, r, "3-checks");
			await layout(page, seen, "checks");
		});

		await step(r, "confirm, follow the backfill to 100%", async () => {
			await submit(page, "button:has-text('Install')");
			check(new URL(page.url()).pathname === "/console/install/progress", `not on progress: ${page.url()}`);
			// The page refreshes itself (meta refresh) until the backfill is done.
			await page.waitForSelector("a.button:has-text('Next: connect the Attio app')", { timeout: BACKFILL_MS });
			seen.progressLabel = (await page.textContent(".progress-label")).trim();
			check(seen.progressLabel.includes("100%"), `not 100%: ${seen.progressLabel}`);
			seen.usersDone = (await page.textContent(".users-done")).trim();
			seen.backfillText = (await page.textContent(".backfill")).replace(/\s+/g, " ").trim();
			check(/records\/s/.test(seen.backfillText), `no rate: ${seen.backfillText}`);
			check(/time left/i.test(seen.backfillText), `no time left: ${seen.backfillText}`);
			await shot(page, r, "4-progress");
			await layout(page, seen, "progress");
		});

		await step(r, "finish: the Attio app's first check arrives", async () => {
			await submit(page, "a.button:has-text('Next: connect the Attio app')");
			await page.waitForSelector("text=Waiting for the Attio app");
			await shot(page, r, "5-finish-waiting");
			await layout(page, seen, "finish");
			const check1 = await control(r, "/connection-check", { connection: r.connection });
			check(check1.status === 200, `connection-check: ${JSON.stringify(check1)}`);
			// The waiting page refreshes itself every 3 s.
			await page.waitForSelector(".connected", { timeout: STEP_MS });
			await shot(page, r, "6-finish-connected");
		});

		await step(r, "a ban from Attio, then the installation page", async () => {
			const ban = await control(r, "/ban", { connection: r.connection, banned: true });
			seen.banStatus = ban.status;
			check(ban.status === 200, `ban: ${JSON.stringify(ban)}`);
			await submit(page, "a:has-text('Open the installation')");
			check(/\/console\/installations\/[^/]+$/.test(new URL(page.url()).pathname), `not the installation: ${page.url()}`);
			seen.installation = page.url();
			const health = (await page.textContent("#health")).replace(/\s+/g, " ");
			check(health.includes("✔ pass") && health.includes("answered"), `health: ${health}`);
			check(/Last event from the auth server/.test(health), `health: ${health}`);
			const audit = (await page.textContent("#audit table")).replace(/\s+/g, " ");
			check(audit.includes("update-ban-status") && audit.includes(input.banReason), `no ban in the audit log: ${audit}`);
			await shot(page, r, "7-installation");
			await layout(page, seen, "installation");
			// The filter is a plain GET form.
			await page.fill("#audit input[name=action]", "update-ban-status");
			await submit(page, "#audit button:has-text('Filter')");
			const rows = await page.locator("#audit tbody tr").allTextContents();
			check(rows.length === 1 && rows[0].includes("update-ban-status"), `filtered: ${rows}`);
		});

		await step(r, "rotate the secret; the new one works", async () => {
			await submit(page, "#rotate button:has-text('Rotate the secret')");
			const next = (await page.inputValue("#new-connection")).trim();
			check(next && next !== r.connection, "no new connection string");
			check((await page.inputValue("#new-secret")).startsWith("ATTIO_SECRET=whsec_"), "no new secret line");
			await shot(page, r, "8-rotate");
			await layout(page, seen, "rotate");
			// The operator sets the new secret on the auth server; the Attio app gets the new string.
			await control(r, "/plugin-moves", { connection: next });
			const unban = await control(r, "/ban", { connection: next, banned: false });
			seen.newSecretStatus = unban.status;
			check(unban.status === 200, `with the new secret: ${JSON.stringify(unban)}`);
			const old = await control(r, "/ban", { connection: r.connection, banned: false });
			seen.oldSecretStatus = old.status;
			await submit(page, "a:has-text('Back to the installation')");
			const text = await page.textContent("main");
			check(!text.includes("A rotation is running"), "the rotation did not finish");
			await shot(page, r, "9-rotated");
		});

		await step(r, "uninstall, sign out", async () => {
			await submit(page, "a:has-text('Uninstall this installation')");
			check((await page.textContent("main")).includes("Kept:"), "the uninstall page says what is kept");
			await shot(page, r, "10-uninstall");
			await layout(page, seen, "uninstall");
			await submit(page, "button.danger:has-text('Uninstall')");
			await page.waitForSelector("text=Uninstalled.");
			await shot(page, r, "11-uninstalled");
			await submit(page, "button:has-text('Sign out')");
			check(new URL(page.url()).pathname === "/console/login", `not signed out: ${page.url()}`);
		});
		seen.done = true;
		seen.ms = Date.now() - t0;
	} catch (e) {
		problems.push(e.message);
		try {
			await shot(page, r, "failed");
		} catch {}
	} finally {
		await context.close();
	}
}

try {
	for (const r of input.runs) await journey(r);
} catch (e) {
	problems.push(`failed: ${e.stack || e}`);
} finally {
	await browser.close();
}

out.problems = problems;
out.ms = Date.now() - started;
console.log(JSON.stringify(out));
