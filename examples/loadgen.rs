//! A bounded HTTP load generator for `leadscore serve`: a fixed number of requests over a
//! fixed number of keep-alive connections, optionally paced to a target rate, stopped by
//! a hard time limit. Prints requests/s (and leads/s for batches) and latency
//! percentiles. Loopback only: it refuses any other address.
//!
//! ```sh
//! leadscore serve --listen 127.0.0.1:8080 --as-of 2026-11-27 &
//! cargo run --release --example loadgen -- --body lead.json --requests 50000 --concurrency 8 --rate 5000
//! cargo run --release --example loadgen -- --body batch.jsonl --content-type application/x-ndjson \
//!     --requests 200 --concurrency 2 --leads-per-request 1000
//! ```
//!
//! Latency is measured per request from writing it to reading the whole response. With
//! `--rate`, requests are started on a fixed schedule (tokio's timer has a 1 ms grain, so
//! they leave in small bursts); a request whose turn comes while all connections are busy
//! waits, and that wait is not counted in its latency, but shows as a rate below target.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

#[derive(Debug, Parser)]
#[command(about = "Bounded HTTP load test for leadscore serve (loopback only)")]
struct Args {
    /// The server's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// The request path.
    #[arg(long, default_value = "/v1/score")]
    path: String,
    /// The request body, read from this file.
    #[arg(long)]
    body: std::path::PathBuf,
    /// The body's content type.
    #[arg(long, default_value = "application/json")]
    content_type: String,
    /// Requests to send (after the warm-up).
    #[arg(long, default_value_t = 10_000)]
    requests: u64,
    /// Requests sent first and not measured.
    #[arg(long, default_value_t = 0)]
    warmup: u64,
    /// Connections, each with one request at a time.
    #[arg(long, default_value_t = 4)]
    concurrency: u64,
    /// Target requests per second over all connections; 0 sends as fast as they answer.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Leads in each request body, to report leads/s.
    #[arg(long, default_value_t = 1)]
    leads_per_request: u64,
    /// Hard limit on the whole run, in seconds.
    #[arg(long, default_value_t = 60)]
    time_limit: u64,
    /// Client runtime threads (keep them few: the server needs the cores).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// An extra request header, `NAME: VALUE` (repeatable), e.g.
    /// `--header "Authorization: Bearer TOKEN"`.
    #[arg(long = "header", value_name = "NAME: VALUE", value_parser = parse_header)]
    headers: Vec<(String, String)>,
}

fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}` is not `NAME: VALUE`"))?;
    Ok((name.trim().to_string(), value.trim().to_string()))
}

/// What one connection saw.
#[derive(Debug, Default)]
struct Tally {
    latencies_us: Vec<u32>,
    not_ok: u64,
    errors: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if !args.addr.ip().is_loopback() {
        return Err(format!(
            "{} is not a loopback address; load tests stay on this machine",
            args.addr
        )
        .into());
    }
    let body = Bytes::from(std::fs::read(&args.body)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let limit = Duration::from_secs(args.time_limit);
        let args = Arc::new(args);
        if args.warmup > 0 {
            run(&args, &body, args.warmup, 0.0, limit).await;
        }
        let start = Instant::now();
        let tallies = run(&args, &body, args.requests, args.rate, limit).await;
        report(&args, &tallies, start.elapsed());
    });
    Ok(())
}

/// Sends `total` requests over `args.concurrency` connections; stops at the time limit.
async fn run(args: &Arc<Args>, body: &Bytes, total: u64, rate: f64, limit: Duration) -> Vec<Tally> {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + limit;
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (args, body, next) = (Arc::clone(args), body.clone(), Arc::clone(&next));
            tokio::spawn(async move {
                connection(&args, body, &next, total, rate, start, deadline).await
            })
        })
        .collect();
    let mut tallies = Vec::new();
    for worker in workers {
        // A worker stuck on a request past the deadline is abandoned, not waited for.
        let left = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(5);
        match tokio::time::timeout(left, worker).await {
            Ok(Ok(tally)) => tallies.push(tally),
            Ok(Err(e)) => eprintln!("a connection task failed: {e}"),
            Err(_) => eprintln!("a connection did not finish before the time limit"),
        }
    }
    if Instant::now() >= deadline {
        eprintln!("stopped by the time limit of {}s", limit.as_secs());
    }
    tallies
}

async fn connection(
    args: &Args,
    body: Bytes,
    next: &AtomicU64,
    total: u64,
    rate: f64,
    start: Instant,
    deadline: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut sender = None;
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= total || Instant::now() >= deadline {
            return tally;
        }
        if rate > 0.0 {
            let at = start + Duration::from_secs_f64(i as f64 / rate);
            tokio::time::sleep_until(at.into()).await;
        }
        if sender.is_none() {
            sender = connect(args.addr).await;
            if sender.is_none() {
                tally.errors += 1;
                continue;
            }
        }
        let Some(s) = sender.as_mut() else { continue };
        let mut request = hyper::Request::post(args.path.as_str())
            .header(hyper::header::HOST, args.addr.to_string())
            .header(hyper::header::CONTENT_TYPE, args.content_type.as_str());
        for (name, value) in &args.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request.body(Full::new(body.clone()));
        let Ok(request) = request else {
            tally.errors += 1;
            continue;
        };
        let sent = Instant::now();
        let answered = async {
            s.ready().await?;
            let response = s.send_request(request).await?;
            let status = response.status();
            response.into_body().collect().await?;
            Ok::<_, hyper::Error>(status)
        };
        match tokio::time::timeout(deadline.saturating_duration_since(sent), answered).await {
            Ok(Ok(status)) => {
                tally
                    .latencies_us
                    .push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
                if status != hyper::StatusCode::OK {
                    tally.not_ok += 1;
                }
            }
            Ok(Err(_)) | Err(_) => {
                tally.errors += 1;
                sender = None; // reconnect
            }
        }
    }
}

async fn connect(addr: SocketAddr) -> Option<http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(conn);
    Some(sender)
}

fn report(args: &Args, tallies: &[Tally], elapsed: Duration) {
    let mut latencies: Vec<u32> = tallies
        .iter()
        .flat_map(|t| t.latencies_us.iter().copied())
        .collect();
    latencies.sort_unstable();
    let answered = latencies.len() as u64;
    let not_ok: u64 = tallies.iter().map(|t| t.not_ok).sum();
    let errors: u64 = tallies.iter().map(|t| t.errors).sum();
    let secs = elapsed.as_secs_f64();
    let rps = answered as f64 / secs;
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        f64::from(latencies[i]) / 1000.0
    };
    println!(
        "{} requests in {secs:.2}s over {} connections{}: {answered} answered ({} ok, {not_ok} not 200), {errors} errors",
        args.requests,
        args.concurrency,
        if args.rate > 0.0 {
            format!(", target {:.0} req/s", args.rate)
        } else {
            String::new()
        },
        answered - not_ok,
    );
    println!(
        "throughput: {rps:.0} req/s, {:.0} leads/s",
        rps * args.leads_per_request as f64
    );
    println!(
        "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(0.999),
        pct(1.0)
    );
}
