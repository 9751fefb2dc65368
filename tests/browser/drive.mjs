// Drives headless Chromium through a chapter's page, the way a learner would
// use it, and says in one line whether the page showed what it should.
//
//   node drive.mjs page-shows URL TEXT [--screenshot FILE] [--timeout SECONDS]
//
// Exit status: 0 when the scenario passed, 1 when it failed (the message
// includes what the page showed), 2 for a usage error.
//
// Each scenario is one entry in `scenarios` below. A scenario gets a fresh
// browser context (its own cookies and storage) and opens as many tabs in
// it as it needs; a chat test, say, opens two and checks that a message
// typed in one appears in the other.
//
// Chromium is Debian's /usr/bin/chromium (CHROMIUM=PATH to use another);
// playwright-core only drives it and never downloads a browser.
// `bash tests/browser/setup` installs both.

import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

// No GPU, no sandbox (we run as root), and nothing that talks to the
// internet on its own: the only traffic is to the chapter on 127.0.0.1.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Thrown for a scenario that ran and saw the wrong thing. */
class Failure extends Error {}

const scenarios = {
  "page-shows": {
    usage: "page-shows URL TEXT   open URL and wait until TEXT appears on the page",
    arity: 2,
    async run(context, [url, text], options) {
      const tab = await openTab(context, url);
      try {
        await waitForText(tab, text, options.timeout);
      } finally {
        await screenshot(tab, options.screenshot);
      }
      return `${JSON.stringify(text)} appeared on ${url}`;
    },
  },
  // A two-tab scenario follows the same shape:
  //
  //   chat: {
  //     usage: "chat URL   two tabs; a message sent in one appears in the other",
  //     arity: 1,
  //     async run(context, [url], options) {
  //       const [alice, bob] = [await openTab(context, url), await openTab(context, url)];
  //       await alice.fill("#text", "Hello, Bob");
  //       await alice.press("#text", "Enter");
  //       await waitForText(bob, "Hello, Bob", options.timeout);
  //       ...
  //     },
  //   },
};

// --- helpers for scenarios -------------------------------------------------

/** Opens `url` in a new tab and remembers the tab's errors for the report. */
async function openTab(context, url) {
  const tab = await context.newPage();
  tab.problems = [];
  tab.on("pageerror", (error) => tab.problems.push(`page error: ${error.message}`));
  tab.on("console", (message) => {
    if (message.type() === "error") tab.problems.push(`console error: ${message.text()}`);
  });
  let response;
  try {
    response = await tab.goto(url, { waitUntil: "domcontentloaded" });
  } catch (error) {
    throw new Failure(`could not open ${url}: ${error.message.split("\n")[0]}`);
  }
  if (!response || !response.ok()) {
    throw new Failure(`${url} answered ${response ? response.status() : "nothing"}`);
  }
  return tab;
}

/** Waits until the tab's visible text contains `text`. */
async function waitForText(tab, text, timeout) {
  try {
    await tab.waitForFunction((wanted) => document.body.innerText.includes(wanted), text, {
      timeout,
    });
  } catch (error) {
    if (error.name !== "TimeoutError") throw error;
    throw new Failure(
      `${JSON.stringify(text)} did not appear on ${tab.url()} within ${timeout / 1000} s\n` +
        (await describe(tab)),
    );
  }
}

/** What a person looking at the tab would see, plus any script errors. */
async function describe(tab) {
  const text = await tab.evaluate(() => document.body.innerText).catch(() => "(unreadable)");
  const lines = [`the page shows:`, ...text.trim().split("\n").map((line) => `  | ${line}`)];
  for (const problem of tab.problems) lines.push(problem);
  return lines.join("\n");
}

/** Saves a PNG of the whole tab to `file`, if given; a failure here is only reported. */
async function screenshot(tab, file) {
  if (!file) return;
  await tab
    .screenshot({ path: file, fullPage: true })
    .catch((error) => console.error(`could not save the screenshot ${file}: ${error.message}`));
}

// --- command line ----------------------------------------------------------

function usage() {
  const lines = Object.values(scenarios).map((scenario) => `  node drive.mjs ${scenario.usage}`);
  return [
    "usage:",
    ...lines,
    "options:",
    "  --screenshot FILE   save a PNG of the page (also when the scenario fails)",
    "  --timeout SECONDS   how long to wait for the page (default 15)",
  ].join("\n");
}

function parse(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      screenshot: { type: "string" },
      timeout: { type: "string", default: "15" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [name, ...rest] = positionals;
  const scenario = scenarios[name];
  const timeout = Number(values.timeout) * 1000;
  if (values.help || !scenario || rest.length !== scenario.arity || !(timeout > 0)) {
    return null;
  }
  return { name, scenario, rest, options: { screenshot: values.screenshot, timeout } };
}

async function main() {
  let command;
  try {
    command = parse(process.argv.slice(2));
  } catch (error) {
    console.error(error.message);
  }
  if (!command) {
    console.error(usage());
    return 2;
  }

  const started = Date.now();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
  });
  try {
    const context = await browser.newContext();
    context.setDefaultTimeout(command.options.timeout);
    const result = await command.scenario.run(context, command.rest, command.options);
    console.log(`ok: ${command.name}: ${result} (${Date.now() - started} ms)`);
    return 0;
  } catch (error) {
    const message = error instanceof Failure ? error.message : error.stack;
    console.log(`FAILED: ${command.name}: ${message}`);
    return 1;
  } finally {
    await browser.close();
  }
}

process.exitCode = await main().catch((error) => {
  console.log(`FAILED: ${error.message}`);
  return 1;
});
