// Drives Debian's Chromium (playwright-core, no browser download) through the generator page,
// once with JavaScript and once without, and prints what it read as JSON on stdout.
// Run by generator-site/tests/browser.rs, which starts the server and decodes the strings
// with the shared Rust codec.
//
// usage: node run.mjs <base url> <screenshot dir>
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const [base, shots] = process.argv.slice(2);
if (!base || !shots) {
	console.error("usage: node run.mjs <base url> <screenshot dir>");
	process.exit(2);
}
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
	executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
	headless: true,
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

const out = { js: {}, nojs: {}, screenshots: [] };
const problems = [];

try {
	// --- With JavaScript: the island makes the secret, no request leaves the page. ---
	const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
	await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
	const page = await context.newPage();
	page.on("console", (m) => {
		if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
	});
	page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
	const posts = [];
	page.on("request", (r) => {
		if (r.method() !== "GET") posts.push(`${r.method()} ${r.url()}`);
	});

	const started = Date.now();
	await page.goto(base + "/");
	await page.waitForSelector("html[data-hydrated=true]", { timeout: 15000 });
	out.js.hydrated_ms = Date.now() - started;
	out.js.no_js_class = await page.evaluate(() => document.documentElement.classList.contains("no-js"));

	// A wrong URL: the message appears next to the field.
	await page.fill("#uri", "http://app.example.com");
	await page.click("#generate-button");
	await page.waitForFunction(() => document.querySelector("#uri-error").textContent.trim().length > 0);
	out.js.uri_error = (await page.textContent("#uri-error")).trim();
	out.js.uri_invalid = await page.getAttribute("#uri", "aria-invalid");

	// A good one (with slack to normalize), then generate.
	await page.fill("#uri", " App.Example.com/ ");
	await page.fill("#base", "api/auth/");
	await page.click("#generate-button");
	await page.waitForSelector("#result[data-made-by=browser]", { timeout: 5000 });
	out.js.uri_error_after = (await page.textContent("#uri-error")).trim();
	out.js.made_by = await page.getAttribute("#result", "data-made-by");
	out.js.connection = await page.inputValue("#connection");
	out.js.env = await page.inputValue("#env");

	// The copy button puts the string on the clipboard.
	await page.click("#connection-copy");
	await page.waitForFunction(() => document.querySelector("#connection-copy").textContent.includes("Copied"));
	out.js.clipboard = await page.evaluate(() => navigator.clipboard.readText());

	// The inspector, in the browser too.
	await page.fill("#inspect-input", out.js.connection);
	await page.click("#inspect-button");
	await page.waitForSelector("#inspection", { timeout: 5000 });
	out.js.inspect_protocol = await page.getAttribute("#inspection [data-protocol]", "data-protocol");
	out.js.inspect_text = (await page.textContent("#inspection")).replace(/\s+/g, " ").trim();
	await page.screenshot({ path: `${shots}/generator-desktop.png`, fullPage: true });
	out.screenshots.push(`${shots}/generator-desktop.png`);
	await page.fill("#inspect-input", "not a connection string");
	await page.click("#inspect-button");
	await page.waitForFunction(() => document.querySelector("#inspect-error").textContent.trim().length > 0);
	out.js.inspect_error = (await page.textContent("#inspect-error")).trim();
	out.js.requests = posts;

	// The TypeScript Better Auth plugin: an original-protocol string, made in the browser.
	await page.check("#plugin-typescript");
	await page.click("#generate-button");
	await page.waitForSelector("#result[data-plugin=typescript][data-made-by=browser]", { timeout: 5000 });
	out.js.ts_connection = await page.inputValue("#connection");
	out.js.ts_env = await page.inputValue("#env");
	out.js.ts_note = (await page.textContent("#plugin-note")).trim();
	out.js.requests_after_ts = posts.slice();
	await page.check("#plugin-rust");

	// Phone width.
	await page.setViewportSize({ width: 390, height: 844 });
	await page.screenshot({ path: `${shots}/generator-phone.png`, fullPage: true });
	out.screenshots.push(`${shots}/generator-phone.png`);
	out.js.phone_overflow = await page.evaluate(
		() => document.documentElement.scrollWidth > document.documentElement.clientWidth,
	);
	await context.close();

	// --- Without JavaScript: a plain form POST, answered with the page holding the result. ---
	const nojs = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
	const p2 = await nojs.newPage();
	await p2.goto(base + "/");
	await p2.fill("#uri", "http://app.example.com");
	await Promise.all([p2.waitForNavigation(), p2.click("#generate-button")]);
	out.nojs.uri_error = (await p2.textContent("#uri-error")).trim();
	await p2.fill("#uri", " App.Example.com/ ");
	await p2.fill("#base", "api/auth/");
	const [response] = await Promise.all([p2.waitForNavigation(), p2.click("#generate-button")]);
	out.nojs.status = response.status();
	out.nojs.cache_control = (await response.allHeaders())["cache-control"];
	out.nojs.made_by = await p2.getAttribute("#result", "data-made-by");
	out.nojs.connection = await p2.inputValue("#connection");
	out.nojs.env = await p2.inputValue("#env");
	out.nojs.copy_button_visible = await p2.isVisible("#connection-copy");
	// The same choice without JavaScript: the radio button travels in the form POST.
	await p2.check("#plugin-typescript");
	const [tsResponse] = await Promise.all([p2.waitForNavigation(), p2.click("#generate-button")]);
	out.nojs.ts_status = tsResponse.status();
	out.nojs.ts_plugin = await p2.getAttribute("#result", "data-plugin");
	out.nojs.ts_made_by = await p2.getAttribute("#result", "data-made-by");
	out.nojs.ts_connection = await p2.inputValue("#connection");
	out.nojs.ts_env = await p2.inputValue("#env");
	out.nojs.ts_checked = await p2.isChecked("#plugin-typescript");
	await p2.screenshot({ path: `${shots}/generator-nojs.png`, fullPage: true });
	out.screenshots.push(`${shots}/generator-nojs.png`);
	await nojs.close();
} catch (e) {
	problems.push(`failed: ${e.stack || e}`);
} finally {
	await browser.close();
}

out.problems = problems;
console.log(JSON.stringify(out));
