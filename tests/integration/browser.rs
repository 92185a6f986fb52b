//! A real headless Chromium (Debian's `chromium` package, which scripts/test installs) driven
//! over the DevTools protocol: open a page, record every request it makes and every console
//! message and uncaught error, evaluate script in it, take a screenshot.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// The browser: killed, and its profile removed, when dropped.
pub struct Browser {
    child: Child,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    /// Every event the page sent, in order.
    pub events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn chromium() -> PathBuf {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("Chromium is installed (Debian's chromium package; scripts/test installs it)")
}

impl Browser {
    /// Starts Chromium headless with a fresh profile and opens one page, with the network
    /// turned off for it.
    pub fn start(width: u32, height: u32) -> Self {
        let profile = tempfile::tempdir().expect("a profile directory");
        let child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
                &format!("--window-size={width},{height}"),
                &format!("--user-data-dir={}", profile.path().display()),
                "about:blank",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Chromium starts");
        // Chromium writes the port it chose, and the browser's socket path, into the profile.
        let active = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        let (port, path) = loop {
            if let Ok(text) = std::fs::read_to_string(&active) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    break (port.to_owned(), path.to_owned());
                }
            }
            assert!(Instant::now() < deadline, "Chromium did not open its DevTools port within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        };
        let (socket, _) =
            tungstenite::connect(format!("ws://127.0.0.1:{port}{path}")).expect("the DevTools socket");
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream.set_read_timeout(Some(Duration::from_secs(60))).expect("a read timeout");
        }
        let mut browser = Browser {
            child,
            socket,
            session: String::new(),
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", json!({ "url": "about:blank" }));
        let attached =
            browser.call("Target.attachToTarget", json!({ "targetId": target["targetId"], "flatten": true }));
        browser.session = attached["sessionId"].as_str().expect("a session").to_owned();
        for domain in ["Page.enable", "Runtime.enable", "Log.enable", "Network.enable"] {
            browser.call(domain, json!({}));
        }
        browser.call(
            "Network.emulateNetworkConditions",
            json!({ "offline": true, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1 }),
        );
        browser
    }

    /// Sends a command (to the page, once attached) and waits for its answer; events that
    /// arrive meanwhile are kept.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.socket.send(Message::text(message.to_string())).expect("a DevTools command is sent");
        loop {
            let message = self.next_message();
            if message["id"] == id {
                assert!(message.get("error").is_none(), "{method} failed: {}", message["error"]);
                return message["result"].clone();
            }
            self.events.push(message);
        }
    }

    fn next_message(&mut self) -> Value {
        loop {
            match self.socket.read().expect("DevTools answers within 60 s") {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str()).expect("DevTools sends JSON");
                }
                Message::Close(_) => panic!("Chromium closed the DevTools socket"),
                _ => continue,
            }
        }
    }

    /// Opens `file` and waits for its load event.
    pub fn open(&mut self, file: &Path) -> Duration {
        let started = Instant::now();
        let url = format!("file://{}", file.canonicalize().expect("the page exists").display());
        self.call("Page.navigate", json!({ "url": url }));
        while !self.events.iter().any(|e| e["method"] == "Page.loadEventFired") {
            let event = self.next_message();
            self.events.push(event);
        }
        started.elapsed()
    }

    /// Evaluates `expression` in the page; its value (promises awaited).
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        assert!(
            result.get("exceptionDetails").is_none(),
            "`{expression}` threw: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// The URLs the page requested.
    pub fn requests(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .filter_map(|e| e["params"]["request"]["url"].as_str().map(str::to_owned))
            .collect()
    }

    /// Uncaught errors, console errors and warnings, and the browser's own error log
    /// entries (a refused resource, a Content-Security-Policy violation).
    pub fn problems(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e["method"].as_str()? {
                "Runtime.exceptionThrown" => Some(format!("uncaught: {}", e["params"]["exceptionDetails"])),
                "Runtime.consoleAPICalled"
                    if matches!(e["params"]["type"].as_str(), Some("error" | "warning" | "assert")) =>
                {
                    Some(format!("console: {}", e["params"]["args"]))
                }
                "Log.entryAdded"
                    if matches!(e["params"]["entry"]["level"].as_str(), Some("error" | "warning")) =>
                {
                    Some(format!("log: {}", e["params"]["entry"]["text"]))
                }
                _ => None,
            })
            .collect()
    }

    /// The page printed to PDF, as Chromium's print does; the bytes, also written to `to`.
    pub fn pdf(&mut self, to: &Path) -> Vec<u8> {
        use base64::Engine as _;
        let printed = self.call("Page.printToPDF", json!({ "printBackground": true }));
        let pdf = base64::engine::general_purpose::STANDARD
            .decode(printed["data"].as_str().expect("PDF data"))
            .expect("base64");
        std::fs::write(to, &pdf).expect("the PDF is written");
        pdf
    }

    /// A PNG of the whole page.
    pub fn screenshot(&mut self, to: &Path) {
        use base64::Engine as _;
        let shot =
            self.call("Page.captureScreenshot", json!({ "format": "png", "captureBeyondViewport": true }));
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64");
        std::fs::write(to, png).expect("the screenshot is written");
    }
}
