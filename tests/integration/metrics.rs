//! `handoff run --metrics`: a real Prometheus server scrapes a worker on the emulator; the
//! probes follow the credentials and the loop; hostile connections to the endpoint cost the
//! worker nothing. Prometheus and promtool come from Debian's `prometheus` package, which
//! scripts/test installs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::helpers::{EmulatorProcess, Test, crate_dir};

const CLIENT_TOKEN: &str = "handoff-emulator-client-token";
const SECRET_KEY: &str = "handoff-emulator-secret";

/// A process killed (and reaped) when dropped, so a failed test leaves nothing running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path` over HTTP/1.1: the status and the body; status 0 when the connection failed
/// or closed without an answer.
fn get(addr: &str, path: &str, accept: Option<&str>) -> (u16, String) {
    let exchange = || -> std::io::Result<String> {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let accept = accept.map(|a| format!("Accept: {a}\r\n")).unwrap_or_default();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}Connection: close\r\n\r\n")?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response)
    };
    let response = exchange().unwrap_or_default();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// Waits (at most `within`) until `check` returns something.
fn wait_for<T>(within: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "waited {within:?} for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts `handoff` with `args` and `--metrics 127.0.0.1:0`; returns it and the endpoint's
/// address, read from its first lines. Its stderr is drained into `log`.
fn start_worker(test: &Test, args: &[&str]) -> (Running, String, std::sync::Arc<std::sync::Mutex<String>>) {
    let mut child = test
        .command()
        .args(args)
        .args(["--metrics", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("handoff starts");
    let mut reader = BufReader::new(child.stderr.take().expect("stderr"));
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut addr = None;
    for _ in 0..20 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        log.lock().unwrap().push_str(&line);
        if let Some(rest) = line.trim().strip_prefix("handoff: metrics on http://") {
            addr = rest.split('/').next().map(str::to_string);
            break;
        }
    }
    let addr = addr.unwrap_or_else(|| panic!("no metrics address in:\n{}", log.lock().unwrap()));
    let drained = log.clone();
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            drained.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    (Running(child), addr, log)
}

/// A sample's value in the Prometheus text format (the first series named `name` exactly,
/// labels included).
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `promtool ARGS` with `input` on stdin: its exit status and everything it printed.
fn promtool(args: &[&str], input: &str) -> (bool, String) {
    let mut child = std::process::Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (Debian's prometheus package; scripts/test installs it)");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let printed =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), printed)
}

/// A Prometheus server on loopback that scrapes `target` every second.
fn start_prometheus(dir: &Path, target: &str) -> (Running, String) {
    let port = free_port();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\nscrape_configs:\n  - job_name: handoff\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let child = std::process::Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus runs (Debian's prometheus package; scripts/test installs it)");
    let running = Running(child);
    let addr = format!("127.0.0.1:{port}");
    wait_for(Duration::from_secs(30), "Prometheus to be ready", || {
        TcpStream::connect(&addr).ok().and_then(|_| (get(&addr, "/-/ready", None).0 == 200).then_some(()))
    });
    (running, addr)
}

/// An instant PromQL query through Prometheus's HTTP API: the first result's value.
fn query(prometheus: &str, promql: &str) -> Option<f64> {
    let encoded: String = promql
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (status, body) = get(prometheus, &format!("/api/v1/query?query={encoded}"), None);
    if status != 200 {
        return None;
    }
    let answer: Value = serde_json::from_str(&body).ok()?;
    answer["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

fn worker_args<'a>(emulator: &'a EmulatorProcess, playbook: &'a str, deployments: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        playbook,
        "--endpoint-url",
        &emulator.url,
        "--var",
        deployments,
        "--every",
        "300ms",
        "--progress",
        "plain",
    ]
}

/// The example worker, untuned, scraped by a real Prometheus: a PromQL query returns its
/// succeeded and failed job counts, equal to what the emulator's ledger says it was told;
/// promtool finds nothing to fix in the exposition; and neither the exposition nor a probe
/// holds the client token, the secret key or any job's id.
#[test]
fn prometheus_scrapes_a_worker_and_its_job_counts_are_the_emulators() {
    let emulator = EmulatorProcess::start(&["--generate", "jobs=12,failing=25%", "--seed", "5"]);
    let test = Test::new().aws_env(&emulator).env("PARTNER_CLIENT_TOKEN", CLIENT_TOKEN);
    let playbook = crate_dir().join("examples/job-worker.yaml").display().to_string();
    let deployments = format!("deploy_root={}", test.path().join("deployments").display());
    let (_worker, addr, log) = start_worker(&test, &worker_args(&emulator, &playbook, &deployments));
    let (_prometheus, prometheus) = start_prometheus(test.path(), &addr);

    let jobs = wait_for(Duration::from_secs(120), "every job to be reported", || {
        let jobs = emulator.summary()["jobs"].clone();
        let done = jobs["Succeeded"].as_u64().unwrap_or(0) + jobs["Failed"].as_u64().unwrap_or(0);
        (done == 12).then_some(jobs)
    });
    let (succeeded, failed) = (jobs["Succeeded"].as_f64().unwrap(), jobs["Failed"].as_f64().unwrap());
    assert!(failed > 0.0 && succeeded > 0.0, "{jobs}");
    let seen = wait_for(Duration::from_secs(30), "Prometheus to scrape the final counts", || {
        let seen = (
            query(&prometheus, "handoff_jobs_succeeded_total")?,
            query(&prometheus, "handoff_jobs_failed_total")?,
        );
        (seen == (succeeded, failed)).then_some(seen)
    });
    assert_eq!(seen, (succeeded, failed), "{}", log.lock().unwrap());
    let claimed = query(&prometheus, "handoff_jobs_claimed_total").unwrap();
    assert_eq!(claimed, succeeded + failed);
    let polled = query(&prometheus, "time() - handoff_last_successful_poll_timestamp_seconds").unwrap();
    assert!(polled < 10.0, "the last successful poll was {polled} s ago");
    let ok_polls = query(
        &prometheus,
        r#"handoff_aws_calls_total{service="codepipeline",operation="PollForThirdPartyJobs",outcome="ok"}"#,
    )
    .unwrap();
    assert!(ok_polls >= 2.0, "{ok_polls}");
    assert_eq!(query(&prometheus, "handoff_ready"), Some(1.0));

    let (status, text) = get(&addr, "/metrics", None);
    assert_eq!(status, 200);
    let (clean, printed) = promtool(&["check", "metrics"], &text);
    assert!(clean && printed.trim().is_empty(), "promtool check metrics:\n{printed}\n{text}");
    assert!(sample(&text, "handoff_artifact_bytes_total{direction=\"down\"}").unwrap_or(0.0) > 0.0, "{text}");
    assert!(sample(&text, "handoff_artifact_bytes_total{direction=\"up\"}").unwrap_or(0.0) > 0.0, "{text}");
    let (_, openmetrics) = get(&addr, "/metrics", Some("application/openmetrics-text; version=1.0.0"));
    assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
    let (_, healthz) = get(&addr, "/healthz", None);
    let (ready, readyz) = get(&addr, "/readyz", None);
    assert_eq!(ready, 200, "{readyz}");

    let state = emulator.get("state");
    let mut secrets = vec![CLIENT_TOKEN.to_string(), SECRET_KEY.to_string()];
    for job in state["jobs"].as_array().unwrap() {
        secrets.push(job["id"].as_str().unwrap().to_string());
    }
    for part in emulator.get("credentials").as_array().unwrap() {
        secrets.push(part["secretAccessKey"].as_str().unwrap().to_string());
        secrets.push(part["sessionToken"].as_str().unwrap().to_string());
    }
    for body in [&text, &openmetrics, &healthz, &readyz] {
        for secret in &secrets {
            assert!(!body.contains(secret.as_str()), "`{secret}` served:\n{body}");
        }
    }
}

/// Credentials from a `credential_process` that hands out short-lived keys, as SSO and
/// assumed roles do. When the keys it hands out stop working, `/readyz` turns 503 within
/// one iteration and says what AWS said; when they work again, it turns 200 by itself.
#[test]
fn readyz_follows_the_credentials_and_says_why() {
    let emulator = EmulatorProcess::start(&["--generate", "jobs=0"]);
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let write_keys = |secret: &str| {
        std::fs::write(&keys, format!("AKIAHANDOFFEMULATOR1 {secret}\n")).unwrap();
    };
    write_keys(SECRET_KEY);
    let process = dir.path().join("credentials.sh");
    std::fs::write(
        &process,
        format!(
            "#!/bin/sh\nread key secret < {}\nprintf '{{\"Version\":1,\"AccessKeyId\":\"%s\",\"SecretAccessKey\":\"%s\",\"Expiration\":\"%s\"}}' \"$key\" \"$secret\" \"$(date -u -d '+2 seconds' +%Y-%m-%dT%H:%M:%SZ)\"\n",
            keys.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&process, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!("[profile worker]\nregion = us-east-1\ncredential_process = {}\n", process.display()),
    )
    .unwrap();
    let test = Test::new()
        .env("AWS_CONFIG_FILE", config.display().to_string())
        .env("AWS_PROFILE", "worker")
        .env("PARTNER_CLIENT_TOKEN", CLIENT_TOKEN);
    let playbook = crate_dir().join("examples/job-worker.yaml").display().to_string();
    let deployments = format!("deploy_root={}", test.path().join("deployments").display());
    let (_worker, addr, log) = start_worker(&test, &worker_args(&emulator, &playbook, &deployments));

    wait_for(Duration::from_secs(30), "the worker to be ready", || {
        (get(&addr, "/readyz", None).0 == 200).then_some(())
    });
    let runs = |text: &str| -> f64 {
        ["succeeded", "failed"]
            .iter()
            .filter_map(|s| sample(text, &format!("handoff_runs_total{{status=\"{s}\"}}")))
            .sum()
    };
    write_keys("a-secret-aws-does-not-know");
    let before = runs(&get(&addr, "/metrics", None).1);
    let (body, after) = wait_for(Duration::from_secs(30), "/readyz to fail", || {
        let (status, body) = get(&addr, "/readyz", None);
        (status == 503).then(|| (body, runs(&get(&addr, "/metrics", None).1)))
    });
    assert!(body.contains("PollForThirdPartyJobs: InvalidSignatureException"), "{body}");
    assert!(!body.contains("a-secret-aws-does-not-know") && !body.contains(SECRET_KEY), "{body}");
    // The run under way when the keys changed may have polled with the old ones; the next
    // one fails and says so.
    assert!(
        after - before <= 2.0,
        "{before} runs before, {after} when /readyz failed\n{}",
        log.lock().unwrap()
    );
    assert_eq!(get(&addr, "/healthz", None).0, 200, "a refused credential is not a stuck loop");

    write_keys(SECRET_KEY);
    let (_, body) = wait_for(Duration::from_secs(30), "/readyz to recover", || {
        let (status, body) = get(&addr, "/readyz", None);
        (status == 200).then_some((status, body))
    });
    assert_eq!(body, "ready\n");
}

/// `/healthz` fails while an iteration runs past `--stuck-after`, saying so, and passes again
/// once it ends.
#[test]
fn healthz_fails_while_an_iteration_is_stuck_past_the_bound() {
    let test = Test::new().file(
        "slow.yaml",
        "version: 1\nname: slow\nsteps:\n  - id: work\n    exec:\n      command: [sleep, \"4\"]\n",
    );
    let (_worker, addr, log) = start_worker(
        &test,
        &["run", "slow.yaml", "--every", "1m", "--stuck-after", "1s", "--progress", "plain"],
    );
    let body = wait_for(Duration::from_secs(10), "/healthz to fail", || {
        let (status, body) = get(&addr, "/healthz", None);
        (status == 503).then_some(body)
    });
    assert!(body.starts_with("stuck: iteration 1 has run for"), "{body}");
    assert!(body.contains("past --stuck-after 1s"), "{body}");
    let body = wait_for(Duration::from_secs(15), "/healthz to pass again", || {
        let (status, body) = get(&addr, "/healthz", None);
        (status == 200).then_some(body)
    });
    assert!(body.starts_with("ok: 1 iterations, waiting"), "{body}\n{}", log.lock().unwrap());
    assert_eq!(get(&addr, "/readyz", None).0, 200, "an exec-only worker is ready once a run ends");
}

/// A port in use is an error at the start, before any run.
#[test]
fn a_port_in_use_is_an_error_at_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let test = Test::new()
        .file("p.yaml", "version: 1\nname: p\nsteps:\n  - id: a\n    exec:\n      command: [\"true\"]\n");
    let output = test.args(["run", "p.yaml", "--metrics", &addr]).run().code(2);
    assert!(
        output.stderr.starts_with(&format!("handoff: error: --metrics {addr}: cannot listen there: ")),
        "{}",
        output.stderr
    );
    drop(taken);
}

/// The process's resident memory now, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Polls the emulator counted over `span`.
fn polls_during(emulator: &EmulatorProcess, span: Duration) -> u64 {
    let count = || emulator.summary()["requests"]["PollForThirdPartyJobs"].as_u64().unwrap_or(0);
    let before = count();
    std::thread::sleep(span);
    count() - before
}

/// A hundred hostile connections to the endpoint (half-sent requests kept open, huge headers,
/// binary noise), opened again as they are closed: the worker polls at its pace throughout,
/// its memory stays put, and once they stop the endpoint answers again.
#[test]
fn hostile_connections_to_the_endpoint_cost_the_worker_nothing() {
    let emulator = EmulatorProcess::start(&["--generate", "jobs=0"]);
    let test = Test::new().aws_env(&emulator).env("PARTNER_CLIENT_TOKEN", CLIENT_TOKEN);
    let playbook = crate_dir().join("examples/job-worker.yaml").display().to_string();
    let deployments = format!("deploy_root={}", test.path().join("deployments").display());
    let (worker, addr, log) = start_worker(&test, &worker_args(&emulator, &playbook, &deployments));
    wait_for(Duration::from_secs(30), "the worker to be ready", || {
        (get(&addr, "/readyz", None).0 == 200).then_some(())
    });
    let calm = polls_during(&emulator, Duration::from_secs(3));
    let rss_before = rss(worker.0.id());

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attackers: Vec<_> = (0..100)
        .map(|n| {
            let (addr, stop) = (addr.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let Ok(mut stream) = TcpStream::connect(&addr) else { continue };
                    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
                    let _ = match n % 3 {
                        // Half a request, then a byte now and then (slow loris).
                        0 => {
                            stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ").and_then(|()| {
                                for _ in 0..20 {
                                    std::thread::sleep(Duration::from_millis(250));
                                    stream.write_all(b"a")?;
                                }
                                Ok(())
                            })
                        }
                        // A header far larger than any request needs.
                        1 => stream.write_all(
                            format!("GET /metrics HTTP/1.1\r\nX-Big: {}\r\n", "b".repeat(1 << 20)).as_bytes(),
                        ),
                        // Noise.
                        _ => stream.write_all(
                            &(0..4096u32)
                                .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
                                .collect::<Vec<_>>(),
                        ),
                    };
                    // About 500 new connections a second in all, on top of the 33 held open.
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let attacked = polls_during(&emulator, Duration::from_secs(3));
    let rss_during = rss(worker.0.id());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for attacker in attackers {
        attacker.join().unwrap();
    }
    // A poll or two either way is the window's edges, not the endpoint.
    assert!(
        attacked * 10 >= calm * 7,
        "{calm} polls in 3 s before, {attacked} under attack\n{}",
        log.lock().unwrap()
    );
    assert!(rss_during < rss_before + 16 * 1024 * 1024, "RSS {rss_before} before, {rss_during} under attack");
    let (status, text) = wait_for(Duration::from_secs(15), "/metrics to answer again", || {
        Some(get(&addr, "/metrics", None)).filter(|(s, _)| *s == 200)
    });
    assert_eq!(status, 200);
    assert!(sample(&text, "handoff_ready") == Some(1.0), "{text}");
}

/// A worker whose every poll is refused backs off: the interval doubles for each iteration in
/// a row that failed before doing anything (200 ms, then 400, 800, 1.6 s...), it says so, and
/// the journal's "resume" hint is printed once, not every iteration.
#[test]
fn a_worker_backs_off_while_every_iteration_fails_before_doing_anything() {
    let emulator = EmulatorProcess::start(&["--generate", "jobs=3"]);
    let test = Test::new()
        .aws_env(&emulator)
        .env("AWS_SECRET_ACCESS_KEY", "a-secret-aws-does-not-know")
        .env("PARTNER_CLIENT_TOKEN", CLIENT_TOKEN);
    let playbook = crate_dir().join("examples/job-worker.yaml").display().to_string();
    let deployments = format!("deploy_root={}", test.path().join("deployments").display());
    let mut args = worker_args(&emulator, &playbook, &deployments);
    args[7] = "200ms";
    let (mut worker, _addr, log) = start_worker(&test, &args);
    std::thread::sleep(Duration::from_secs(5));
    nix_term(&mut worker);
    let log = log.lock().unwrap().clone();
    let runs = log.matches("` goes on").count();
    assert_eq!(runs, 1, "the hint once:\n{log}");
    let failed = log.matches("failed before doing anything; next in").count();
    // At full pace, 25 iterations in 5 s; backing off, 200 ms + 400 + 800 + 1.6 s + 3.2 s.
    assert!((3..=6).contains(&failed), "{failed} iterations:\n{log}");
    let fourth = log
        .lines()
        .find_map(|l| {
            l.split_once("4 iterations in a row failed before doing anything; next in ")?.1.strip_suffix('s')
        })
        .and_then(|t| t.parse::<f64>().ok());
    // 200 ms doubled four times, less up to a tenth of jitter.
    assert!(
        fourth.is_some_and(|s| (2.8..=3.2).contains(&s)),
        "{fourth:?}
{log}"
    );
    assert_eq!(emulator.summary()["jobs"]["Queued"], 3, "nothing was claimed");
}

/// SIGTERM, then waits for the process to end.
fn nix_term(process: &mut Running) {
    let _ = std::process::Command::new("kill").args(["-TERM", &process.0.id().to_string()]).status();
    let _ = process.0.wait();
}

/// The alert rules shipped for Kubernetes: the groups under the PrometheusRule's `spec` are a
/// rules file that `promtool check rules` accepts, and every rule reads a metric handoff
/// serves.
#[test]
fn the_shipped_alert_rules_pass_promtool_and_name_served_metrics() {
    let rule = std::fs::read_to_string(crate_dir().join("examples/kubernetes/prometheusrule.yaml")).unwrap();
    let spec = rule.split_once("\nspec:\n").expect("a spec").1;
    let groups: String = spec.lines().map(|l| l.strip_prefix("  ").unwrap_or(l).to_string() + "\n").collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yaml");
    std::fs::write(&file, &groups).unwrap();
    let (clean, printed) = promtool(&["check", "rules", &file.display().to_string()], "");
    assert!(clean, "{printed}");
    assert!(printed.contains("SUCCESS: 6 rules found"), "{printed}");
    let served = [
        "handoff_last_successful_poll_timestamp_seconds",
        "handoff_ready",
        "handoff_jobs_failed_total",
        "handoff_jobs_succeeded_total",
        "handoff_aws_calls_total",
        "handoff_daily_quota_left",
        "handoff_daily_quota_used",
        "handoff_runs_total",
    ];
    use handoff::actions::ActionKind;
    use handoff::events::{Event, Reporter};
    let metrics = handoff::metrics::Metrics::new(Duration::from_secs(60), None);
    for (step, action) in [("poll", ActionKind::PollJobs), ("accept", ActionKind::AcceptInvitation)] {
        metrics.report(&Event::StepStarted {
            step: step.into(),
            action,
            items: None,
            concurrency: 1,
            resumed: 0,
            limit: None,
        });
        metrics.report(&Event::Attempt {
            step: step.into(),
            action,
            elapsed: Duration::from_millis(5),
            failure: None,
            bytes: None,
        });
    }
    metrics.report(&Event::DailyQuota {
        step: "accept".into(),
        action: ActionKind::AcceptInvitation,
        used: 10,
        limit: 100,
    });
    let exposition = metrics.encode(handoff::metrics::Format::Prometheus);
    for name in served {
        assert!(groups.contains(name), "no rule reads {name}");
        assert!(exposition.contains(&format!("# TYPE {name} ")), "{name} is not served:\n{exposition}");
    }
}
