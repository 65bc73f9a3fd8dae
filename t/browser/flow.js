// The connect flow in a real browser: Debian's Chromium driven by
// playwright-core (never a downloaded browser). Prints one JSON line per
// step for t/0420-browser.t to check; takes a screenshot.
// usage: node flow.js WEB USER PASS BINDING COMPANYID SCREENSHOT
const { chromium } = require('playwright-core');
const [web, user, pass, binding, company, shot] = process.argv.slice(2);
const say = (o) => console.log(JSON.stringify(o));

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
		await page.goto(`${web}/dashboard/bindings`);
		say({ step: 'bindings', text: await page.textContent('body') });
		await page.click(`a[href="/dashboard/connect-freeagent?binding=${binding}"]`);
		await page.click('button:has-text("Connect FreeAgent")');
		await page.waitForSelector(`#company-${company}`);
		say({ step: 'consent', url: page.url() });
		await page.check(`#company-${company}`);
		await Promise.all([page.waitForURL((u) => u.pathname === "/dashboard/bindings"), page.click('#approve')]);
		say({ step: 'connected', text: await page.textContent('body') });
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
		await page.goto(`${web}/dashboard/bindings/${binding}`);
		await Promise.all([page.waitForURL((u) => u.pathname === "/dashboard/bindings"), page.click('button:has-text("Disconnect")')]);
		say({ step: 'disconnected', text: await page.textContent('body') });
		await page.screenshot({ path: shot, fullPage: true });
		say({ step: 'screenshot', path: shot });
	} catch (e) {
		say({ step: 'error', error: String(e) });
		process.exitCode = 1;
	} finally {
		await browser.close();
	}
})();
