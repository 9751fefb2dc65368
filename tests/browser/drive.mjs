// Drives headless Chromium through a chapter's page, the way a learner would
// use it, and says in one line whether the page showed what it should.
//
//   node drive.mjs page-shows URL TEXT [--screenshot FILE] [--timeout SECONDS]
//   node drive.mjs chat URL [--screenshot FILE] [--timeout SECONDS]
//   node drive.mjs cluster-chat URL_A URL_B [--screenshot FILE] [--timeout SECONDS]
//   node drive.mjs book URL CHAPTERS [--screenshot FILE] [--timeout SECONDS]
//
// Exit status: 0 when the scenario passed, 1 when it failed (the message
// includes what the page showed), 2 for a usage error.
//
// Each scenario is one entry in `scenarios` below. A scenario gets a fresh
// browser context (its own cookies and storage) and opens as many tabs in
// it as it needs; the chat (chapter 11) opens two and checks that a message
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
  chat: {
    usage: "chat URL              two tabs join as Ada and Bob and talk; each sees the other's messages",
    arity: 1,
    async run(context, [url], options) {
      // Only Date is frozen (timers run as usual), so the timestamps in the
      // screenshot are the same on every run; see `at` below.
      await context.clock.setFixedTime(at(0));
      const ada = await openTab(context, url, CHAT_VIEWPORT);
      const bob = await openTab(context, url, CHAT_VIEWPORT);
      let sent = 0;
      try {
        await join(ada, "Ada", options.timeout);
        await join(bob, "Bob", options.timeout);
        await waitForText(ada, "Bob joined", options.timeout, "#messages");

        // The one exchange the test is about, then a few more lines both
        // ways, so the screenshot looks like a conversation. One line
        // carries markup, which must arrive as plain text.
        const conversation = [
          [ada, "Hello from Ada"],
          [bob, "Hi Ada! Is this server really written from scratch?"],
          [ada, "Every byte of it, from the handshake to this JSON."],
          [bob, "Does <b>this</b> come out bold?"],
          [ada, "No, the page only uses textContent, so tags stay plain text."],
          [ada, "Restart it and see: both tabs reconnect and rejoin by themselves."],
        ];
        for (const [index, [from, text]] of conversation.entries()) {
          await context.clock.setFixedTime(at(index + 1));
          await say(from, text);
          sent += 1;
          for (const tab of [ada, bob]) await waitForText(tab, text, options.timeout, "#messages");
        }

        // Both tabs show every message, in the order it was sent, and the
        // markup as text, not as an element.
        const expected = conversation.map(([, text]) => text);
        for (const tab of [ada, bob]) {
          const shown = await tab.$$eval("#messages .text", (items) => items.map((item) => item.textContent));
          if (JSON.stringify(shown) !== JSON.stringify(expected)) {
            throw new Failure(
              `${tab.who}'s tab shows the messages ${JSON.stringify(shown)}, expected ${JSON.stringify(expected)}\n` +
                (await describe(tab)),
            );
          }
          if ((await tab.$$("#messages b")).length > 0) {
            throw new Failure(`${tab.who}'s tab turned a message's <b> into markup\n` + (await describe(tab)));
          }
          if (tab.problems.length > 0) {
            throw new Failure(`${tab.who}'s tab reported problems:\n` + (await describe(tab)));
          }
        }
      } finally {
        await screenshot(ada, options.screenshot);
      }
      return `Ada and Bob joined ${url} and both saw all ${sent} messages, in order`;
    },
  },
};

// Chapter 14: the same chat with its tabs on two servers sharing the room
// through Redis. After the conversation the scenario says "talked" on a line
// of its own and waits for both tabs to show that the other servers are
// unreachable: the test stops Redis when it reads that line.
scenarios["cluster-chat"] = {
  usage: "cluster-chat URL_A URL_B  Ada on A, Bob on B, talk; then both see \"other servers unreachable\"",
  arity: 2,
  async run(context, [urlA, urlB], options) {
    const ada = await openTab(context, urlA, CHAT_VIEWPORT);
    const bob = await openTab(context, urlB, CHAT_VIEWPORT);
    try {
      await join(ada, "Ada", options.timeout);
      await join(bob, "Bob", options.timeout);
      await waitForText(ada, "Bob joined", options.timeout, "#messages");
      // Each page says which server it is on, and that the room spans two.
      for (const [tab, url] of [[ada, urlA], [bob, urlB]]) {
        await waitForText(tab, "one of the 2 servers the room spans", options.timeout, "header");
        const header = await tab.$eval("header", (element) => element.innerText);
        if (!header.includes(new URL(url).host) || /one server/.test(header)) {
          throw new Failure(`${tab.who}'s header says ${JSON.stringify(header)}\n` + (await describe(tab)));
        }
      }
      const conversation = [
        [ada, "Hello from Ada, on server A"],
        [bob, "Hi Ada, Bob here, on server B"],
        [ada, "Through Redis, both ways"],
      ];
      for (const [from, text] of conversation) {
        await say(from, text);
        for (const tab of [ada, bob]) await waitForText(tab, text, options.timeout, "#messages");
      }
      const expected = conversation.map(([, text]) => text);
      for (const tab of [ada, bob]) {
        const shown = await tab.$$eval("#messages .text", (items) => items.map((item) => item.textContent));
        if (JSON.stringify(shown) !== JSON.stringify(expected)) {
          throw new Failure(`${tab.who}'s tab shows ${JSON.stringify(shown)}, expected ${JSON.stringify(expected)}\n` + (await describe(tab)));
        }
      }
      console.log("talked");
      for (const tab of [ada, bob]) await waitForText(tab, "other servers unreachable", options.timeout, "#status");
      for (const tab of [ada, bob]) {
        if (tab.problems.length > 0) throw new Failure(`${tab.who}'s tab reported problems:\n` + (await describe(tab)));
      }
    } finally {
      await screenshot(bob, options.screenshot);
    }
    return `Ada on ${urlA} and Bob on ${urlB} saw each other's messages, then "other servers unreachable"`;
  },
};

// The book (mdBook, built from the chapters): from its first page, follow
// the "next" links through every page; each chapter named in CHAPTERS must
// come in that order and show its lesson's code, its "You should see"
// block and, when its name ends in "+diff", the diff against its base.
// Then the search box must find "Sec-WebSocket-Accept" in chapter 2, and the
// screenshot is of the page named by BOOK_SCREENSHOT_PAGE's chapter.
scenarios.book = {
  usage: "book URL CHAPTERS     walk the book's \"next\" links; each of CHAPTERS (a,b+diff,…) shows its code, diff and output",
  arity: 2,
  async run(context, [url, list], options) {
    const expected = list.split(",").map((entry) => {
      const [name, diff] = entry.split("+");
      return { name, diff: diff === "diff" };
    });
    const tab = await openTab(context, url, BOOK_VIEWPORT);
    const walked = [];
    const pageName = () => decodeURIComponent(new URL(tab.url()).pathname.split("/").pop()).replace(/\.html$/, "");
    for (let pages = 0; ; pages += 1) {
      if (pages > 200) throw new Failure(`more than 200 pages: the "next" links go round in circles`);
      const chapter = expected.find((entry) => entry.name === pageName());
      if (chapter) {
        walked.push(chapter.name);
        await checkChapterPage(tab, chapter);
      }
      const next = tab.locator('a[rel~="next"]:visible').first();
      if ((await next.count()) === 0) break;
      await Promise.all([tab.waitForEvent("load"), next.click()]);
    }
    const names = expected.map((entry) => entry.name);
    if (JSON.stringify(walked) !== JSON.stringify(names)) {
      throw new Failure(`the "next" links led through ${JSON.stringify(walked)}, expected ${JSON.stringify(names)}`);
    }

    // The search box, as a reader opens it: the "S" key.
    await tab.keyboard.press("s");
    const box = tab.locator('input[type="search"]:visible').first();
    await step(tab, "open the search box on the key S", () => box.waitFor({ timeout: options.timeout }));
    // The book searches when a key is released (or, if its index is still
    // loading, once it has loaded): one key after the text, not one search
    // per letter.
    await box.fill("Sec-WebSocket-Accept");
    await box.press("End");
    const hit = tab.locator('[id$="searchresults"] a[href*="02-handshake.html"]').first();
    await step(tab, 'list chapter 2 among the results for "Sec-WebSocket-Accept"', () =>
      hit.waitFor({ timeout: options.timeout }),
    );
    const results = await tab.locator('[id$="searchresults"] a').count();

    if (options.screenshot) {
      const shown = expected.find((entry) => entry.diff) || expected[0];
      // From "Try it" down: the commands, the lesson's code, the diff.
      await tab.goto(new URL(`${shown.name}.html#try-it`, url).href, { waitUntil: "load" });
      await tab.screenshot({ path: options.screenshot }).catch((error) => console.error(`could not save the screenshot: ${error.message}`));
    }
    for (const problem of tab.problems) throw new Failure(`the book reported a problem: ${problem}`);
    return `walked ${walked.length} chapters in order, each with its code, diff and output; search found chapter 2 among ${results} results`;
  },
};

/** A book page shows its lesson's code, its diff (if it has a base) and
 * "You should see" followed by the output. */
async function checkChapterPage(tab, chapter) {
  const where = `${chapter.name}.html`;
  const text = (selector) => tab.$$eval(selector, (nodes) => nodes.map((node) => node.textContent));
  const code = await text("main pre code.language-rust");
  if (!code.some((block) => block.trim().length > 0)) {
    throw new Failure(`${where} shows no Rust code\n` + (await describe(tab)));
  }
  if (code.some((block) => block.includes("{{#"))) {
    throw new Failure(`${where} shows an include that was not replaced`);
  }
  const diffs = await text("main pre code.language-diff");
  if (chapter.diff && !diffs.some((block) => /^--- steps\/.*\n\+\+\+ steps\//.test(block))) {
    throw new Failure(`${where} shows no diff against its base\n` + (await describe(tab)));
  }
  const output = await tab.$$eval("main h2", (headings) => {
    const heading = headings.find((node) => node.textContent.trim() === "You should see");
    let node = heading && heading.nextElementSibling;
    while (node && node.tagName !== "PRE" && node.tagName !== "H2") node = node.nextElementSibling;
    return node && node.tagName === "PRE" ? node.textContent : null;
  });
  if (!output || output.trim().length === 0) {
    throw new Failure(`${where} shows no "You should see" output\n` + (await describe(tab)));
  }
}

/** The book's pages: wide enough for the chapter list beside the text. */
const BOOK_VIEWPORT = { width: 1280, height: 900 };

// --- helpers for scenarios -------------------------------------------------

/** The chat's tabs: the size of the screenshot in the README. */
const CHAT_VIEWPORT = { width: 900, height: 640 };

/** A fixed moment on a fixed day plus `minutes`, for the chat's timestamps. */
function at(minutes) {
  return new Date(2025, 4, 6, 10, 24 + minutes, 0);
}

/** Joins the chat as `name` and waits for the server's welcome, which
 * enables the message box. */
async function join(tab, name, timeout) {
  tab.who = name;
  await step(tab, `find the name box (#name) to join as ${name}`, () => tab.fill("#name", name));
  await tab.press("#name", "Enter");
  await step(tab, `welcome ${name} (the message box stayed disabled)`, () =>
    tab.waitForSelector("#message:enabled", { timeout }),
  );
}

/** Types `text` into the chat's message box and presses Enter. */
async function say(tab, text) {
  await step(tab, `let ${tab.who} type into #message`, () => tab.fill("#message", text));
  await tab.press("#message", "Enter");
}

/** Runs `action`, turning a timeout into a Failure that says what the tab
 * did not do and what it showed instead. */
async function step(tab, what, action) {
  try {
    return await action();
  } catch (error) {
    if (error.name !== "TimeoutError") throw error;
    throw new Failure(`the page did not ${what} in time\n` + (await describe(tab)));
  }
}

/** Opens `url` in a new tab (of `viewport` size, if given) and remembers the
 * tab's errors for the report. */
async function openTab(context, url, viewport) {
  const tab = await context.newPage();
  if (viewport) await tab.setViewportSize(viewport);
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
  // A page opened from disk (file:) has no HTTP response to check.
  if (!url.startsWith("file:") && (!response || !response.ok())) {
    throw new Failure(`${url} answered ${response ? response.status() : "nothing"}`);
  }
  return tab;
}

/** Waits until the visible text of the tab (or of its element `selector`)
 * contains `text`. */
async function waitForText(tab, text, timeout, selector = "body") {
  try {
    await tab.waitForFunction(
      ([wanted, where]) => document.querySelector(where)?.innerText.includes(wanted),
      [text, selector],
      { timeout },
    );
  } catch (error) {
    if (error.name !== "TimeoutError") throw error;
    const place = selector === "body" ? tab.url() : `${selector} of ${tab.who || tab.url()}`;
    throw new Failure(
      `${JSON.stringify(text)} did not appear in ${place} within ${timeout / 1000} s\n` +
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
