// The dashboard in a real browser: Debian's Chromium driven by
// playwright-core (never a downloaded browser). A tenant with nothing
// bound adds a binding with the New binding form, connects it on the
// stand-in's consent page, opens its settings and sync history, and
// disconnects it. On the way, the home, bindings, settings and history
// pages at a phone's width and a laptop's: a full-page screenshot of
// each, whether it scrolls sideways, and axe-core's accessibility
// checks. Prints one JSON line per step for t/0420-browser.t to check.
// usage: node flow.js WEB USER PASS BINDING MAGENTO COMPANYID OUTDIR
const path = require('path');
const { chromium } = require('playwright-core');
const [web, user, pass, binding, magento, company, out] = process.argv.slice(2);
const t0 = Date.now();
const say = (o) => console.log(JSON.stringify({ ...o, ms: Date.now() - t0 }));
const axe = require.resolve('axe-core/axe.min.js');
const sizes = [{ width: 390, height: 844 }, { width: 1280, height: 800 }];
const pages = {
	home: '/dashboard/',
	bindings: '/dashboard/bindings',
	settings: `/dashboard/settings/${binding}`,
	history: `/dashboard/bindings/${binding}/history`,
};
const lands = (page, p) => page.waitForURL((u) => u.pathname === p);
// The page's message after an action, or null (no waiting for one).
const flash = async (page) => {
	const e = await page.$('p.flash[role="status"]');
	return e && e.textContent();
};

// Each page at each size: the screenshot and the width as the merchant
// gets them (the pages' CSP in force); axe in a context of its own that
// lets its script in (the CSP allows none). The two sizes side by side;
// the first error, once both are done.
async function look(browser) {
	const auth = { username: user, password: pass };
	const done = await Promise.allSettled(sizes.map(async (size) => {
		const seen = await browser.newContext({ httpCredentials: auth, viewport: size, deviceScaleFactor: 1 });
		const checked = await browser.newContext({ httpCredentials: auth, viewport: size, bypassCSP: true });
		const page = await seen.newPage(), ax = await checked.newPage();
		for (const [name, p] of Object.entries(pages)) {
			await page.goto(web + p);
			const w = await page.evaluate(() => ({
				scrollWidth: document.documentElement.scrollWidth,
				innerWidth: window.innerWidth,
			}));
			const shot = path.join(out, `${name}-${size.width}.png`);
			await page.screenshot({ path: shot, fullPage: true });
			say({ step: 'shot', page: name, width: size.width, path: shot, ...w });
			await ax.goto(web + p);
			await ax.addScriptTag({ path: axe });
			const r = await ax.evaluate(() => window.axe.run(document));
			say({
				step: 'axe', page: name, width: size.width,
				passes: r.passes.length, incomplete: r.incomplete.map((v) => v.id),
				violations: r.violations.map((v) => ({
					id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
					target: v.nodes[0] && v.nodes[0].target.join(' '),
					html: v.nodes[0] && v.nodes[0].html,
					summary: v.nodes[0] && v.nodes[0].failureSummary,
				})),
			});
		}
		await seen.close();
		await checked.close();
	}));
	for (const d of done)
		if (d.status === 'rejected')
			throw d.reason;
}

(async () => {
	const browser = await chromium.launch({
		executablePath: '/usr/bin/chromium',
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
		    '--disable-background-networking', '--disable-component-update',
		    '--disable-sync', '--disable-quic'],
	});
	try {
		const ctx = await browser.newContext({ httpCredentials: { username: user, password: pass } });
		const page = await ctx.newPage();
		await page.goto(`${web}/dashboard/`);
		say({ step: 'home', title: await page.title(), text: await page.textContent('main') });
		await page.goto(`${web}/dashboard/bindings`);
		await Promise.all([lands(page, '/dashboard/new-binding'), page.click('main a.button:has-text("New binding")')]);
		await page.fill('#magento', magento);
		await page.fill('#binding', binding);
		await Promise.all([lands(page, '/dashboard/bindings'), page.click('button:has-text("Add binding")')]);
		say({ step: 'bindings', url: page.url(), text: await page.textContent('body'),
		    flash: await flash(page) });
		await page.click(`a[href="/dashboard/connect-freeagent?binding=${binding}"]`);
		await page.click('button:has-text("Connect FreeAgent")');
		await page.waitForSelector(`#company-${company}`);
		say({ step: 'consent', url: page.url() });
		await page.check(`#company-${company}`);
		await Promise.all([lands(page, '/dashboard/bindings'), page.click('#approve')]);
		say({ step: 'connected', url: page.url(), text: await page.textContent('body'),
		    flash: await flash(page) });
		await page.click(`a[href="/dashboard/settings/${binding}"]`);
		// Reference data comes after the connect's answer: as a merchant
		// would, reload while the page says it is loading (at most 20 s).
		for (let i = 0; i < 40 && (await page.textContent('body')).includes('Reference data is loading'); i++) {
			await page.waitForTimeout(500);
			await page.reload();
		}
		const cats = await page.$$eval('select[name="default_income_category"] option', (os) => os.map((o) => o.textContent));
		const banks = await page.$$eval('select[name="default_bank_account"] option', (os) => os.map((o) => o.textContent));
		say({ step: 'settings', cats, banks });
		await page.goto(`${web}/dashboard/bindings`);
		await Promise.all([lands(page, `/dashboard/bindings/${binding}/history`),
		    page.click(`a[href="/dashboard/bindings/${binding}/history"]:has-text("Sync history")`)]);
		const rows = await page.$$eval('table tbody tr', (rs) => rs.map((r) => [...r.cells].map((c) => c.textContent)));
		say({ step: 'history', url: page.url(), head: await page.$$eval('table th', (hs) => hs.map((h) => h.textContent)), rows });
		await look(browser);
		await page.goto(`${web}/dashboard/bindings/${binding}`);
		await Promise.all([lands(page, '/dashboard/bindings'), page.click('button:has-text("Disconnect")')]);
		say({ step: 'disconnected', text: await page.textContent('body') });
		const shot = path.join(out, 'bindings.png');
		await page.screenshot({ path: shot, fullPage: true });
		say({ step: 'screenshot', path: shot });
	} catch (e) {
		say({ step: 'error', error: String(e) });
		process.exitCode = 1;
	} finally {
		await browser.close();
	}
})();
