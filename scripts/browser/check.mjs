// Opens the service's documentation pages in headless Chromium (Debian's `chromium`, driven by
// playwright-core) and uses the API through Swagger UI the way a newcomer would: sign in with
// "Authorize" (the OAuth2 password form, then a pasted bearer token), which fills the user's id
// into every operation; create a task, list tasks, read the profile. Fails on any request to
// another host, any console error or page error, and any step that does not show the expected
// answer.
//
//   node check.mjs http://127.0.0.1:8000 email password
import { chromium } from 'playwright-core';

const [base, email, password] = process.argv.slice(2);
if (!base || !email || !password) {
  console.error('usage: node check.mjs <base-url> <email> <password>');
  process.exit(2);
}
const origin = new URL(base).origin;
const problems = [];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const page = await browser.newPage();
page.on('request', (request) => {
  const url = request.url();
  if (!url.startsWith('data:') && !url.startsWith('blob:') && new URL(url).origin !== origin) {
    problems.push(`request to another host: ${url}`);
  }
});
page.on('console', (message) => {
  if (message.type() === 'error') problems.push(`console error on ${page.url()}: ${message.text()}`);
});
// Names the resource behind a "Failed to load resource" console error.
page.on('response', (response) => {
  if (response.status() >= 400) console.log(`     ${response.status()} ${response.request().method()} ${response.url()}`);
});
page.on('pageerror', (error) => problems.push(`page error on ${page.url()}: ${error.message}`));

async function step(name, body) {
  try {
    await body();
    console.log(`ok   ${name}`);
  } catch (error) {
    problems.push(`${name}: ${error.message.split('\n').slice(0, 12).join('\n')}`);
    console.log(`FAIL ${name}`);
    await page.screenshot({ path: `failure-${name.replace(/\W+/g, '-')}.png`, fullPage: true });
    throw error;
  }
}

/** Expands an operation in Swagger UI, presses "Try it out", and returns its block. */
async function openOperation(method, path) {
  const block = page.locator(`.opblock-${method}`).filter({
    has: page.locator(`.opblock-summary-path[data-path="${path}"]`),
  });
  await block.locator('.opblock-summary').first().click();
  await block.getByRole('button', { name: 'Try it out' }).click();
  return block;
}

/** Waits for "Authorize" to have filled the signed-in user's id in (swagger_initializer.js). */
async function userIdFilledIn(block) {
  const userId = block.locator('tr[data-param-name="user_id"] input');
  for (let waited = 0; waited < 5000; waited += 100) {
    if ((await userId.inputValue()) !== '') return;
    await page.waitForTimeout(100);
  }
  throw new Error('the user id was not filled in');
}

/** Presses Execute and returns the status and body Swagger UI shows for the live answer. */
async function execute(block) {
  await block.getByRole('button', { name: 'Execute' }).click();
  const live = block.locator('.live-responses-table .response');
  await live.first().waitFor();
  const status = Number((await live.locator('.response-col_status').first().innerText()).trim());
  const body = await live.locator('.response-col_description pre').first().innerText();
  return { status, body };
}

try {
  await step('Swagger UI loads', async () => {
    await page.goto(`${base}/docs/`);
    await page.locator('.opblock').first().waitFor({ timeout: 20000 });
  });

  await step('Authorize signs in with email and password', async () => {
    await page.getByRole('button', { name: /Authorize/ }).first().click();
    const dialog = page.locator('.modal-ux');
    const oauth = dialog.locator('.auth-container').filter({ hasText: 'OAuth2, password' });
    await oauth.locator('input#oauth_username').fill(email);
    await oauth.locator('input#oauth_password').fill(password);
    await oauth.locator('button.authorize').click();
    await oauth.locator('button[aria-label="Remove authorization"]').waitFor();
    await dialog.locator('button.close-modal').first().click();
  });

  let taskTitle = `Written in Swagger UI ${Date.now()}`;
  await step('create a task from the example body as it stands', async () => {
    const block = await openOperation('post', '/api/v1/users/{user_id}/tasks');
    await userIdFilledIn(block);
    const example = JSON.parse(await block.locator('textarea.body-param__text').inputValue());
    const { status, body: answer } = await execute(block);
    if (status !== 201) throw new Error(`expected 201, got ${status}: ${answer}`);
    taskTitle = JSON.parse(answer).title;
    if (taskTitle !== example.title) throw new Error(`unexpected body ${answer}`);
  });

  await step('list tasks shows it', async () => {
    const block = await openOperation('get', '/api/v1/users/{user_id}/tasks');
    const { status, body } = await execute(block);
    if (status !== 200) throw new Error(`expected 200, got ${status}: ${body}`);
    const titles = JSON.parse(body).items.map((task) => task.title);
    if (!titles.includes(taskTitle)) throw new Error(`task missing from ${titles}`);
  });

  await step('Authorize with a pasted bearer token fills the id in too', async () => {
    const login = await page.request.post(`${base}/api/v1/auth/login`, { data: { email, password } });
    if (login.status() !== 200) throw new Error(`login answered ${login.status()}: ${await login.text()}`);
    const { access_token: token } = await login.json();
    await page.goto(`${base}/docs/`); // A new page: no authorization, no id filled in.
    await page.locator('.opblock').first().waitFor({ timeout: 20000 });
    await page.getByRole('button', { name: /Authorize/ }).first().click();
    const dialog = page.locator('.modal-ux');
    const bearer = dialog.locator('form').filter({ hasText: 'http, Bearer' });
    await bearer.locator('input').fill(token);
    await bearer.locator('button.authorize').click();
    await bearer.locator('button[aria-label="Remove authorization"]').waitFor();
    await dialog.locator('button.close-modal').first().click();

    const block = await openOperation('get', '/api/v1/users/{user_id}');
    await userIdFilledIn(block);
    const { status, body } = await execute(block);
    if (status !== 200) throw new Error(`expected 200, got ${status}: ${body}`);
    if (JSON.parse(body).email !== email) throw new Error(`unexpected body ${body}`);
  });

  await step('ReDoc loads', async () => {
    await page.goto(`${base}/redoc`);
    await page.locator('h1, h2').filter({ hasText: /todo-api/i }).first().waitFor({ timeout: 20000 });
    await page.waitForLoadState('networkidle');
  });
} catch {
  // Reported below.
} finally {
  await browser.close();
}

if (problems.length > 0) {
  console.error(`\n${problems.length} problem(s):`);
  for (const problem of problems) console.error(`  - ${problem}`);
  process.exit(1);
}
console.log('\nbrowser check passed');
