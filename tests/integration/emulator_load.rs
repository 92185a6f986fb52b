//! The emulator as a server under hostile traffic, on 127.0.0.1 only: 1,000 concurrent
//! hostile connections (slow-loris clients, oversized headers and bodies, malformed HTTP)
//! while a well-formed SDK client keeps calling it. The client is answered within a stated
//! latency, every hostile connection is answered or closed, and memory stays bounded.

use std::time::{Duration, Instant};

use handoff::emulator::DEFAULT_SECRET_KEY;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::EmulatorProcess;

/// How long the attack lasts.
const ATTACK: Duration = Duration::from_secs(6);
/// The stated bounds: a well-formed request's slowest answer during the attack, and the
/// emulator's peak memory.
const MAX_LATENCY: Duration = Duration::from_secs(1);
const MAX_RSS: u64 = 256 << 20;
/// How long a hostile request that ends (every kind but slow loris) may take to be sent and
/// answered after the attack: generous, because sending 1 MiB headers and 4 MiB bodies from
/// 300 clients takes CPU that the server and the rest of the test suite share on two cores.
/// Only no answer at all (a hang) is a failure; a busy machine is not.
const ANSWER_GRACE: Duration = Duration::from_secs(30);

/// What one hostile client saw.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// An HTTP answer with this status.
    Status(u16),
    /// The server closed the connection without an answer.
    Closed,
    /// Still open at its deadline: a slow-loris client inside the header timeout when the
    /// attack ended, or (a failure) a finished request never answered.
    Open,
}

async fn read_answer(stream: &mut TcpStream) -> Seen {
    let mut buffer = [0u8; 64];
    match stream.read(&mut buffer).await {
        Ok(0) | Err(_) => Seen::Closed,
        Ok(n) => {
            let text = String::from_utf8_lossy(&buffer[..n]);
            text.get(9..12).and_then(|s| s.parse().ok()).map_or(Seen::Closed, Seen::Status)
        }
    }
}

/// One hostile client of kind `kind`: a slow-loris client until `until`, any other until
/// its request is answered (or `ANSWER_GRACE` after `until`).
async fn hostile(address: String, kind: usize, until: Instant) -> Seen {
    let Ok(mut stream) = TcpStream::connect(&address).await else { return Seen::Closed };
    let deadline = tokio::time::Instant::from_std(if kind <= 6 { until } else { until + ANSWER_GRACE });
    let attack = async {
        match kind {
            // Slow loris: a request line, then a header byte now and then, never finished.
            0..=6 => {
                let _ = stream.write_all(b"POST / HTTP/1.1\r\nhost: x\r\nx-slow: ").await;
                loop {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    if stream.write_all(b"a").await.is_err() {
                        return Seen::Closed;
                    }
                }
            }
            // A 1 MiB header.
            7 => {
                let mut request = b"POST / HTTP/1.1\r\nhost: x\r\nx-big: ".to_vec();
                request.extend(std::iter::repeat_n(b'a', 1 << 20));
                request.extend_from_slice(b"\r\n\r\n");
                let _ = stream.write_all(&request).await;
                read_answer(&mut stream).await
            }
            // A body announced at 100 MiB, 4 MiB of it sent.
            8 => {
                let head = "POST / HTTP/1.1\r\nhost: x\r\nx-amz-target: AWSPartnerCentralSelling.ListEngagementInvitations\r\ncontent-length: 104857600\r\n\r\n";
                let _ = stream.write_all(head.as_bytes()).await;
                let chunk = vec![b'{'; 64 * 1024];
                for _ in 0..64 {
                    if stream.write_all(&chunk).await.is_err() {
                        break;
                    }
                }
                read_answer(&mut stream).await
            }
            // Malformed HTTP.
            _ => {
                let garbage: &[u8] = match address.len() % 3 {
                    0 => b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n",
                    1 => b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
                    _ => b"GET /\x00\x01 HTTP/9.9\r\n\r\n",
                };
                let _ = stream.write_all(garbage).await;
                read_answer(&mut stream).await
            }
        }
    };
    tokio::time::timeout_at(deadline, attack).await.unwrap_or(Seen::Open)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_keeps_answering_under_1000_hostile_connections() {
    let emulator = EmulatorProcess::start(&["--quota", "off", "--generate", "invitations=20"]);
    let address = emulator.url.trim_start_matches("http://").to_string();
    let config = crate::emulator_sdk::sdk_config(&emulator.url, DEFAULT_SECRET_KEY);
    let client = aws_sdk_partnercentralselling::Client::new(&config);
    let list = || {
        client
            .list_engagement_invitations()
            .catalog("AWS")
            .participant_type(aws_sdk_partnercentralselling::types::ParticipantType::Receiver)
            .send()
    };
    list().await.expect("the emulator answers before the attack");

    let until = Instant::now() + ATTACK;
    // Spread by kind: 700 slow loris, 100 huge headers, 100 huge bodies, 100 malformed.
    // The attackers get a runtime (and threads) of their own, so that the well-formed
    // client's latency is the server's, not this process's scheduling.
    let attack_runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let attackers: Vec<_> =
        (0..1000).map(|i| attack_runtime.spawn(hostile(address.clone(), i % 10, until))).collect();

    let mut latencies = Vec::new();
    while Instant::now() < until {
        let started = Instant::now();
        let answer = list().await;
        latencies.push(started.elapsed());

        answer.expect("a well-formed request is answered during the attack");
    }
    let mut seen = std::collections::BTreeMap::new();
    for attacker in attackers {
        let outcome = attacker.await.unwrap();
        *seen.entry(format!("{outcome:?}")).or_insert(0) += 1;
    }
    list().await.expect("the emulator answers after the attack");
    attack_runtime.shutdown_background();

    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let p99 = latencies[latencies.len() * 99 / 100];
    let max = *latencies.last().unwrap();
    let rss = emulator.peak_rss();
    eprintln!(
        "emulator under attack: {} well-formed calls answered, p50 {p50:?}, p99 {p99:?}, max {max:?}; \
         peak RSS {} MiB; hostile clients saw {seen:?}",
        latencies.len(),
        rss >> 20
    );
    assert!(latencies.len() >= 20, "only {} calls in {ATTACK:?}", latencies.len());
    assert!(max < MAX_LATENCY, "the slowest well-formed call took {max:?}");
    assert!(rss > 0 && rss < MAX_RSS, "peak RSS {rss} bytes");
    // Hostile requests that finish get an HTTP answer or a closed connection, never a hang:
    // only the slow-loris clients may still be open when the attack ends.
    assert!(seen.get("Open").copied().unwrap_or(0) <= 700, "{seen:?}");
}
