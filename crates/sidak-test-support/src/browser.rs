//! The dashboard in a real browser: headless Chromium driven by chromedriver (WebDriver,
//! through fantoccini), with waits for what the page shows, a log-in, and screenshots kept
//! in [`artifacts`](crate::artifacts).
//!
//! Needs [`CHROMIUM`] and [`CHROMEDRIVER`] (Debian `chromium` and `chromium-driver`; `.ci/run`
//! installs them): a test starts with `if !browser_available() { return; }`, which skips it
//! with a message without them, and fails it under `CI=true`.
//!
//! The browser runs in UTC ([`Options::time_zone`]), so a page that shows the browser's
//! local time where it should show WITA is caught. One browser runs at a time per test
//! binary (a [`Browser`] holds the turn until it is dropped): on a 2-core machine several
//! Chromiums at once make every wait a race.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use fantoccini::elements::Element;
pub use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// The browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Its WebDriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long the page may take to show what a test waits for (the debug build on a busy
/// 2-core machine is slow; a healthy run needs well under a second).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(100);

/// One browser at a time in a test binary.
static TURN: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// Whether Chromium and chromedriver are installed; without them, panics under `CI=true` and
/// prints why the test is skipped otherwise.
pub fn browser_available() -> bool {
    crate::tools_available(
        &[CHROMIUM, CHROMEDRIVER],
        "apt-get install chromium chromium-driver",
        "the dashboard's browser tests",
    )
}

/// How to start the browser.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where downloads are saved without asking (`None`: the browser's default).
    pub downloads: Option<PathBuf>,
    /// The browser's time zone (`TZ`), UTC by default: not the office's, on purpose.
    pub time_zone: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            downloads: None,
            time_zone: "UTC".into(),
        }
    }
}

/// A chromedriver process of ours, in a process group of its own; the group (the driver and
/// the Chromium it started) is killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        #[cfg(unix)]
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn start_driver(time_zone: &str) -> Driver {
    let port = free_port();
    let mut cmd = Command::new(CHROMEDRIVER);
    cmd.arg(format!("--port={port}"))
        .env("TZ", time_zone)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let driver = Driver {
        child: cmd.spawn().expect("start chromedriver"),
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(res) = http.get(format!("{}/status", driver.url)).send().await
            && res.status().is_success()
        {
            return driver;
        }
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(POLL).await;
    }
}

/// A headless Chromium with a fresh profile, a laptop-sized window and Indonesian as its
/// language; derefs to the WebDriver [`Client`].
pub struct Browser {
    client: Client,
    // Dropped in this order: the profile after the driver that used it.
    _driver: Driver,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::SemaphorePermit<'static>,
}

impl std::ops::Deref for Browser {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Browser {
    /// Starts a browser with the default [`Options`].
    pub async fn start() -> Browser {
        Self::start_with(Options::default()).await
    }

    /// Starts a browser as `options` say (waiting for the binary's previous one to close).
    pub async fn start_with(options: Options) -> Browser {
        let turn = TURN
            .acquire()
            .await
            .expect("the turn semaphore is never closed");
        let profile = tempfile::tempdir().expect("profile dir");
        let driver = start_driver(&options.time_zone).await;
        let mut chrome = json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", format!("--user-data-dir={}", profile.path().display()),
                "--window-size=1366,900", "--lang=id-ID",
            ]
        });
        if let Some(dir) = &options.downloads {
            chrome["prefs"] = json!({
                "download.default_directory": dir.display().to_string(),
                "download.prompt_for_download": false,
                "download.directory_upgrade": true,
                "safebrowsing.enabled": true,
            });
        }
        let caps = json!({"browserName": "chrome", "goog:chromeOptions": chrome});
        let serde_json::Value::Object(caps) = caps else {
            unreachable!("a JSON object")
        };
        // Both rustls providers are compiled in (fantoccini brings aws-lc-rs); choose one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = ClientBuilder::rustls()
            .expect("tls")
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("start chromium");
        Browser {
            client,
            _driver: driver,
            _profile: profile,
            _turn: turn,
        }
    }

    /// Ends the WebDriver session (Chromium exits), then the driver.
    pub async fn close(self) {
        self.client.clone().close().await.expect("close browser");
    }
}

/// Polls `check` until it gives a value, at most [`PATIENCE`]; panics with `what` otherwise.
pub async fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// The text of the first element matching `css` (`None`: there is none).
pub async fn text_of(c: &Client, css: &str) -> Option<String> {
    let e = c.find(Locator::Css(css)).await.ok()?;
    Some(e.text().await.unwrap_or_default())
}

/// Waits until the text of `css` satisfies `ok`; returns it. `expected` says what was
/// waited for in the panic message, with the last text seen.
pub async fn wait_text_where(
    c: &Client,
    css: &str,
    expected: &str,
    ok: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + PATIENCE;
    let mut last = None;
    loop {
        if let Some(text) = text_of(c, css).await {
            if ok(&text) {
                return text;
            }
            last = Some(text);
        }
        assert!(
            Instant::now() < deadline,
            "{css} shows {last:?}, expected {expected}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until `css` shows exactly `text` (trimmed).
pub async fn wait_text(c: &Client, css: &str, text: &str) -> String {
    wait_text_where(c, css, &format!("{text:?}"), |t| t.trim() == text).await
}

/// Waits until `css` shows text containing every one of `parts`; returns it.
pub async fn wait_text_contains(c: &Client, css: &str, parts: &[&str]) -> String {
    wait_text_where(c, css, &format!("text containing {parts:?}"), |t| {
        parts.iter().all(|p| t.contains(p))
    })
    .await
}

/// Waits until the script `js` (a function body that `return`s a value) gives a value that
/// satisfies `ok`; returns it. `expected` names it in the panic message.
pub async fn wait_script(
    c: &Client,
    js: &str,
    expected: &str,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let got = c.execute(js, vec![]).await.expect("run script");
        if ok(&got) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{js} gives {got}, expected {expected}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until `css` matches exactly `n` elements; returns them.
pub async fn wait_count(c: &Client, css: &str, n: usize) -> Vec<Element> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let found = c.find_all(Locator::Css(css)).await.unwrap_or_default();
        if found.len() == n {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{css}: {} elements, expected {n}",
            found.len()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until `css` is on the page (shown or not); returns it.
pub async fn wait_element(c: &Client, css: &str) -> Element {
    c.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
}

/// Waits until `css` is shown (`true`) or hidden (`false`).
pub async fn wait_shown(c: &Client, css: &str, shown: bool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = match c.find(Locator::Css(css)).await {
            Ok(e) => e.is_displayed().await.unwrap_or(false),
            Err(_) => false,
        };
        if now == shown {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{css} is {}, expected {}",
            if now { "shown" } else { "hidden" },
            if shown { "shown" } else { "hidden" }
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Clicks the element `css` (waiting for it to be on the page).
pub async fn click(c: &Client, css: &str) {
    wait_element(c, css)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Types `text` into the field `css`.
pub async fn type_into(c: &Client, css: &str, text: &str) {
    wait_element(c, css)
        .await
        .send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("type into {css}: {e}"));
}

/// Opens `url` (the dashboard, perhaps with a `#record=` address), logs in on its form as
/// `user` and waits until the dashboard shows.
pub async fn log_in(c: &Client, url: &str, user: &str, password: &str) {
    c.goto(url).await.expect("open the dashboard");
    wait_element(c, "#login-form").await;
    type_into(c, "#username", user).await;
    type_into(c, "#password", password).await;
    click(c, "#login-button").await;
    wait_shown(c, "#app", true).await;
}

/// Saves the whole page as `name` in the artifacts folder (a window as tall as the page, at
/// most 6,000 pixels, for the shot, then the laptop size again); returns where.
pub async fn screenshot(c: &Client, name: &str) -> PathBuf {
    // The window is taller than the page's viewport by the browser's own frame: grow it by
    // what the page still lacks, twice (the page may reflow once it is taller).
    let mut height: u64 = 900;
    for _ in 0..2 {
        let missing = c
            .execute(
                "return Math.max(0, document.documentElement.scrollHeight - window.innerHeight);",
                vec![],
            )
            .await
            .expect("page height")
            .as_u64()
            .unwrap_or(0);
        height = (height + missing).min(6000);
        c.set_window_size(1366, height as u32)
            .await
            .expect("resize");
    }
    let png = c.screenshot().await.expect("screenshot");
    let path = crate::artifacts().join(name);
    std::fs::write(&path, png).expect("write screenshot");
    c.set_window_size(1366, 900).await.expect("resize");
    path
}

/// Waits until the browser has saved a file called `name` in `dir` (and no download into
/// `dir` is still in progress); returns its bytes.
pub async fn wait_download(dir: &Path, name: &str) -> Vec<u8> {
    let path = dir.join(name);
    wait_for(&format!("{} to be downloaded", path.display()), || {
        let partial = std::fs::read_dir(dir)
            .ok()?
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"));
        if partial {
            return None;
        }
        std::fs::read(&path).ok().filter(|b| !b.is_empty())
    })
    .await
}
