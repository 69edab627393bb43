//! Bulk scoring: records are cut from the input on one thread, parsed and scored on
//! worker threads, and handed back in input order. Memory stays bounded by a fixed
//! window of batches however long the input is.
//!
//! JSON Lines input is read in blocks of whole lines, and each block (split into pieces
//! of at most [`MAX_BATCH`] records) is a batch: a worker scores its lines where they
//! lie. A block holds what one read gave, so a slow stream's lines go out as they come.
//! Other input is cut record by record, and a batcher between the reader and the
//! workers sends a batch when it is full, when nothing is in flight, or when its first
//! record has waited [`LINGER`]: fast input goes in full batches, and a slow stream's
//! verdicts come out as its leads come in, even when the input stalls halfway through a
//! batch.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};

use crate::date::Date;
use crate::io::{BlockRecord, Cutting, LineBlock, Position, RawRecord, RecordReader};
use crate::scorer::{Reuse, Scored, Scorer};
use crate::shape::{ShapeRow, rest_after_id};
use crate::verdict::Verdict;

/// Most records in one batch. Each batch costs a handful of thread wake-ups (reader to
/// batcher, batcher to worker, worker to writer, writer back to batcher): at 256, 1M
/// leads took 23,000 context switches and 0.3-0.4 s of system time; at 1,024, 5,600
/// and 0.1 s, and 14-16% less wall time on 2 cores, for a few MB more in flight
/// (BENCHMARKS.md).
const MAX_BATCH: usize = 1024;

/// Batches in flight per worker (read, being scored, or waiting to be written).
const WINDOW_PER_WORKER: usize = 4;

/// Longest a record waits for its batch to fill before it is sent anyway.
const LINGER: Duration = Duration::from_millis(10);

/// Room for each record's rendered output in the first batches: a short verdict.
const FIRST_BYTES_PER_RECORD: usize = 512;

/// At most this much room per record is set aside in advance (one odd batch of huge
/// verdicts must not make every later batch hold megabytes it does not use).
const MAX_BYTES_PER_RECORD: usize = 4096;

/// What became of one input record.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Where the record was read.
    pub position: Position,
    /// Its verdict, or why it was rejected.
    pub result: Result<Verdict, Rejection>,
}

/// A record that could not be scored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Why, in one sentence.
    pub reason: String,
    /// The record as it was read, so nothing is lost.
    pub raw: String,
}

/// Receives outcomes in input order.
pub trait Sink {
    /// Takes the next outcome.
    ///
    /// # Errors
    /// Any I/O error stops the pipeline and is returned by [`Pipeline::run`].
    fn take(&mut self, outcome: Outcome) -> io::Result<()>;

    /// Called when no outcome is ready and the pipeline is about to wait: the moment to
    /// flush buffered output so a slow stream is not held back.
    ///
    /// # Errors
    /// As for `take`.
    fn idle(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Turns a verdict into output bytes on the worker thread that scored it, for
/// [`Pipeline::run_rendered`].
pub trait Render: Sync {
    /// Appends the verdict's output to `out`, or nothing when it is left out (a
    /// filter); says whether it wrote it.
    fn render(&self, verdict: &Verdict, out: &mut Vec<u8>) -> bool;

    /// `Some(start)` when every row `render` writes is `start`, then the verdict's id
    /// as JSON, then bytes that do not depend on the id, and whether it writes a
    /// verdict does not depend on the id either (JSON Lines of
    /// [`Verdict::to_json_line`]). Under rules whose verdicts follow from which rules
    /// matched, the pipeline then renders one lead of each set of matched rules and
    /// writes the next ones of that set from its row. `None` (the default): every
    /// verdict is rendered.
    fn id_start(&self) -> Option<&[u8]> {
        None
    }
}

/// One batch of records, scored and rendered, handed over in input order.
#[derive(Debug, Default)]
pub struct RenderedBatch {
    /// The rendered verdicts, one after another, in input order.
    pub bytes: Vec<u8>,
    /// Records scored.
    pub scored: u64,
    /// Verdicts the renderer wrote (the others were left out).
    pub written: u64,
    /// The records that could not be scored, in input order.
    pub rejected: Vec<Outcome>,
}

/// Receives rendered batches in input order, from [`Pipeline::run_rendered`].
pub trait RenderedSink {
    /// Takes the next batch.
    ///
    /// # Errors
    /// Any I/O error stops the pipeline and is returned by [`Pipeline::run_rendered`].
    fn take_batch(&mut self, batch: RenderedBatch) -> io::Result<()>;

    /// Called when no batch is ready and the pipeline is about to wait (see
    /// [`Sink::idle`]).
    ///
    /// # Errors
    /// As for `take_batch`.
    fn idle(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What the delivering thread does with each batch a worker made: the one seam
/// between [`Pipeline::run`] and [`Pipeline::run_rendered`].
trait Deliver<T> {
    fn take(&mut self, batch: T) -> io::Result<()>;
    fn idle(&mut self) -> io::Result<()>;
}

/// A [`Sink`] takes the outcomes of a batch one by one.
struct EachOutcome<'a, S: ?Sized>(&'a mut S);

impl<S: Sink + ?Sized> Deliver<Vec<Outcome>> for EachOutcome<'_, S> {
    fn take(&mut self, batch: Vec<Outcome>) -> io::Result<()> {
        batch
            .into_iter()
            .try_for_each(|outcome| self.0.take(outcome))
    }

    fn idle(&mut self) -> io::Result<()> {
        self.0.idle()
    }
}

/// A [`RenderedSink`] takes whole batches.
struct WholeBatch<'a, S: ?Sized>(&'a mut S);

impl<S: RenderedSink + ?Sized> Deliver<RenderedBatch> for WholeBatch<'_, S> {
    fn take(&mut self, batch: RenderedBatch) -> io::Result<()> {
        self.0.take_batch(batch)
    }

    fn idle(&mut self) -> io::Result<()> {
        self.0.idle()
    }
}

/// Scores records from a reader on several threads.
///
/// ```
/// use leadscore::io::{InputFormat, ReadOptions, RecordReader};
/// use leadscore::{Date, Outcome, Pipeline, Rules, Scorer};
///
/// let scorer = Scorer::new(Rules::load_dir("rules")?);
/// let input = "{\"id\": 1, \"email\": \"ana@acme.com\"}\n{\"id\": 2, \"email\": \"kid@uni.edu\"}\n";
/// let reader = RecordReader::new(Box::new(input.as_bytes()), InputFormat::Jsonl, "leads", &ReadOptions::default());
/// let mut stages = Vec::new();
/// Pipeline::new(&scorer, Date::parse("2026-01-15").unwrap())
///     .threads(2)
///     .run(reader, &mut |o: Outcome| {
///         stages.push(o.result.map(|v| v.stage.to_string()).unwrap_or_default());
///         Ok(())
///     })?;
/// assert_eq!(stages, ["lead", "disqualified"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Pipeline<'s> {
    scorer: &'s Scorer,
    as_of: Date,
    threads: usize,
}

impl<'s> Pipeline<'s> {
    /// A pipeline scoring as of `as_of`, on as many worker threads as there are cores.
    pub fn new(scorer: &'s Scorer, as_of: Date) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Pipeline {
            scorer,
            as_of,
            threads: cores,
        }
    }

    /// Sets the number of worker threads (at least 1).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Reads every record, scores it, and gives the outcomes to `sink` in input order.
    /// A lead without an id is named by its position (`leads.csv:4`).
    ///
    /// # Errors
    /// The first error the sink returns; reading stops there.
    pub fn run<S: Sink + ?Sized>(&self, reader: RecordReader, sink: &mut S) -> io::Result<()> {
        let score = |scorer: &Scorer, batch: Batch, _: &mut Reuse| -> Vec<Outcome> {
            let mut outcomes = Vec::with_capacity(batch.len());
            batch.score_each(scorer, self.as_of, |outcome| outcomes.push(outcome));
            outcomes
        };
        self.run_batches(reader, &score, &mut EachOutcome(sink))
    }

    /// Like [`Pipeline::run`], but each verdict is rendered to bytes by `render` on the
    /// worker thread that scored it, and dropped there: the delivering thread only
    /// writes bytes. Handing verdicts across threads to be written and freed cost a
    /// fifth more CPU than the scoring (BENCHMARKS.md, issue 14).
    ///
    /// # Errors
    /// The first error the sink returns; reading stops there.
    pub fn run_rendered<R: Render, S: RenderedSink + ?Sized>(
        &self,
        reader: RecordReader,
        render: &R,
        sink: &mut S,
    ) -> io::Result<()> {
        // The most bytes a record has rendered to, on average over a batch: later
        // batches are allocated that much room at once, instead of doubling their
        // buffer (and copying it) when verdicts run longer than a first guess.
        let bytes_per_record = AtomicUsize::new(FIRST_BYTES_PER_RECORD);
        let id_start = render.id_start();
        let score = |scorer: &Scorer, batch: Batch, reuse: &mut Reuse| -> RenderedBatch {
            let records = batch.len().max(1);
            let per_record = bytes_per_record.load(Ordering::Relaxed);
            let mut out = RenderedBatch {
                bytes: Vec::with_capacity(records * per_record),
                ..RenderedBatch::default()
            };
            let rendered = |verdict: &Verdict, out: &mut RenderedBatch| {
                out.scored += 1;
                let kept = render.render(verdict, &mut out.bytes);
                out.written += u64::from(kept);
                kept
            };
            if id_start.is_some() && scorer.shaped() {
                reuse.by_shape();
            }
            let mut id = Vec::new();
            batch.score_each_reusing(scorer, self.as_of, reuse, |scored| match scored {
                Scored::Reused(verdict, shape) => {
                    let at = out.bytes.len();
                    let kept = rendered(verdict, &mut out);
                    let (Some(key), Some(start)) = (shape, id_start) else {
                        return None;
                    };
                    id.clear();
                    crate::verdict::write_value(&mut id, &verdict.id);
                    let rest = match kept {
                        true => rest_after_id(&out.bytes[at..], start, &id)?,
                        false => &[],
                    };
                    Some((
                        key,
                        ShapeRow {
                            kept,
                            rest: rest.into(),
                        },
                    ))
                }
                Scored::Known(row, id) => {
                    out.scored += 1;
                    if let (true, Some(start)) = (row.kept, id_start) {
                        out.bytes.extend_from_slice(start);
                        crate::verdict::write_value(&mut out.bytes, id);
                        out.bytes.extend_from_slice(&row.rest);
                        out.written += 1;
                    }
                    None
                }
                Scored::Outcome(outcome) => {
                    match &outcome.result {
                        Ok(verdict) => {
                            rendered(verdict, &mut out);
                        }
                        Err(_) => out.rejected.push(*outcome),
                    }
                    None
                }
            });
            // With some slack, so a batch a little above the average still fits.
            let seen = out.bytes.len() / records + out.bytes.len() / records / 8;
            bytes_per_record.fetch_max(seen.min(MAX_BYTES_PER_RECORD), Ordering::Relaxed);
            out
        };
        self.run_batches(reader, &score, &mut WholeBatch(sink))
    }

    fn run_batches<T: Send>(
        &self,
        reader: RecordReader,
        score: &(dyn Fn(&Scorer, Batch, &mut Reuse) -> T + Sync),
        sink: &mut dyn Deliver<T>,
    ) -> io::Result<()> {
        let window = self.threads * WINDOW_PER_WORKER;
        let (work_tx, work_rx) = bounded::<(u64, Batch)>(window);
        let (done_tx, done_rx) = bounded::<(u64, T)>(window);
        let (credit_tx, credit_rx) = bounded::<()>(window);
        for _ in 0..window {
            let _ = credit_tx.send(());
        }
        let pending = Arc::new(Pending::default());
        // The reader is not joined: a sink that fails (`| head`) must not wait for a
        // read from a quiet stream. It stops at its next record.
        let feeding = Arc::clone(&pending);
        std::thread::spawn(move || feed(reader, &feeding));
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let (pending, stop) = (&pending, &stop);
            scope.spawn(move || batch(pending, &work_tx, &credit_rx, stop));
            for worker in 0..self.threads {
                let (work_rx, done_tx) = (work_rx.clone(), done_tx.clone());
                let scorer = Replica {
                    shared: self.scorer,
                    own: None,
                    first: worker == 0,
                };
                scope.spawn(move || work(scorer, score, &work_rx, &done_tx));
            }
            drop((work_rx, done_tx));
            // `deliver` owns its channel ends: when it returns (at the end, or on an
            // error from the sink) they close, and every thread above winds down.
            let result = deliver(done_rx, credit_tx, sink);
            stop.store(true, Ordering::SeqCst);
            pending.abort();
            result
        })
    }
}

/// A worker: scores batches as they come, each into whatever its pipeline makes of it.
fn work<T>(
    mut scorer: Replica<'_>,
    score: &(dyn Fn(&Scorer, Batch, &mut Reuse) -> T + Sync),
    work: &Receiver<(u64, Batch)>,
    done: &Sender<(u64, T)>,
) {
    // Kept from batch to batch: one worker always scores with the same rules.
    let mut reuse = Reuse::default();
    while let Ok((seq, batch)) = work.recv() {
        if done
            .send((seq, score(scorer.get(), batch, &mut reuse)))
            .is_err()
        {
            return;
        }
    }
}

/// The scorer one worker uses. The first worker scores with the pipeline's own; each
/// other compiles its own copy of the rules ([`Scorer::replica`]) when its first batch
/// arrives, on its own thread, so an input too small to reach it costs nothing.
struct Replica<'s> {
    shared: &'s Scorer,
    own: Option<Scorer>,
    first: bool,
}

impl Replica<'_> {
    fn get(&mut self) -> &Scorer {
        if self.first {
            return self.shared;
        }
        self.own.get_or_insert_with(|| self.shared.replica())
    }
}

/// What a worker scores at a time: a block of JSON lines as it was read, or records cut
/// one by one and gathered into a batch.
enum Batch {
    Lines(LineBlock),
    Records(Vec<RawRecord>),
}

impl Batch {
    fn len(&self) -> usize {
        match self {
            Batch::Lines(block) => block.len(),
            Batch::Records(records) => records.len(),
        }
    }

    /// Scores each record of the batch, in input order.
    fn score_each(self, scorer: &Scorer, as_of: Date, mut each: impl FnMut(Outcome)) {
        match self {
            Batch::Records(records) => records
                .into_iter()
                .for_each(|raw| each(scorer.score_record(raw, as_of))),
            // `each` called in each arm, so the outcome is made where `each` takes it,
            // not in a temporary copied over (400 bytes a lead).
            Batch::Lines(block) => block.for_each(|record| match record {
                BlockRecord::Line(text, position) => each(scorer.score_line(text, position, as_of)),
                BlockRecord::Decided(raw) => each(scorer.score_record(raw, as_of)),
            }),
        }
    }

    /// [`Batch::score_each`] for a worker that renders each verdict before the next
    /// lead: records bound straight to the slots are decided into the verdict `reuse`
    /// keeps, handed over borrowed.
    ///
    /// `each` may give back the row it rendered for a new shape, to be remembered.
    fn score_each_reusing(
        self,
        scorer: &Scorer,
        as_of: Date,
        reuse: &mut Reuse,
        mut each: impl FnMut(Scored<'_>) -> Option<(u64, ShapeRow)>,
    ) {
        let mut score = |reuse: &mut Reuse, record: BlockRecord<'_>| {
            let scored = match record {
                BlockRecord::Line(text, position) => {
                    scorer.score_line_reusing(text, position, as_of, reuse)
                }
                BlockRecord::Decided(raw) => scorer.score_record_reusing(raw, as_of, reuse),
            };
            if let Some((key, row)) = each(scored) {
                reuse.remember(key, row);
            }
        };
        match self {
            Batch::Records(records) => records
                .into_iter()
                .for_each(|raw| score(reuse, BlockRecord::Decided(raw))),
            Batch::Lines(block) => block.for_each(|record| score(reuse, record)),
        }
    }
}

/// Records read but not yet sent to the workers, shared by the reader and the batcher.
#[derive(Default)]
struct Pending {
    state: Mutex<PendingState>,
    changed: Condvar,
}

#[derive(Default)]
struct PendingState {
    records: Vec<RawRecord>,
    /// Blocks of lines read, each a batch of its own (a reader gives either blocks or
    /// records, never both).
    blocks: std::collections::VecDeque<LineBlock>,
    /// When the oldest of `records` was read.
    since: Option<Instant>,
    /// The input is exhausted.
    done: bool,
    /// The pipeline is stopping: the reader should stop reading.
    aborted: bool,
}

impl Pending {
    fn lock(&self) -> MutexGuard<'_, PendingState> {
        // A poisoned lock means a thread panicked holding it; the data is still sound.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn abort(&self) {
        self.lock().aborted = true;
        self.changed.notify_all();
    }
}

/// Reads records into `pending`, waiting while a full batch (or a block) is not yet
/// taken.
fn feed(mut reader: RecordReader, pending: &Pending) {
    while let Some(cutting) = reader.next_cutting() {
        let mut state = pending.lock();
        while (state.records.len() >= MAX_BATCH || !state.blocks.is_empty()) && !state.aborted {
            state = pending
                .changed
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        if state.aborted {
            return;
        }
        // Wake the batcher only when that can change its mind: a block, a first record
        // (it may be sent at once) or a full batch. Waking it for every record costs
        // more than scoring.
        let wake = match cutting {
            Cutting::Block(block) => {
                state.blocks.extend(block.split(MAX_BATCH));
                true
            }
            Cutting::Record(raw) => {
                state.since.get_or_insert_with(Instant::now);
                state.records.push(raw);
                state.records.len() == 1 || state.records.len() >= MAX_BATCH
            }
        };
        drop(state);
        if wake {
            pending.changed.notify_all();
        }
    }
    pending.lock().done = true;
    pending.changed.notify_all();
}

/// Sends batches to the workers in order: when full, when nothing is in flight, when
/// the oldest record has waited [`LINGER`], and at the end. One credit per batch in
/// flight bounds memory.
fn batch(
    pending: &Pending,
    work: &Sender<(u64, Batch)>,
    credits: &Receiver<()>,
    stop: &AtomicBool,
) {
    let window = credits.capacity().unwrap_or(1);
    let mut seq = 0u64;
    loop {
        // Wait until a batch is due.
        {
            let mut state = pending.lock();
            loop {
                if state.aborted
                    || (state.done && state.records.is_empty() && state.blocks.is_empty())
                {
                    return;
                }
                let waited = state.since.map_or(Duration::ZERO, |t| t.elapsed());
                let starved = credits.len() == window;
                let due = state.records.len() >= MAX_BATCH
                    || !state.blocks.is_empty()
                    || state.done
                    || (!state.records.is_empty() && (starved || waited >= LINGER));
                if due {
                    break;
                }
                let timeout = if state.records.is_empty() {
                    LINGER
                } else {
                    LINGER.saturating_sub(waited)
                };
                state = pending
                    .changed
                    .wait_timeout(state, timeout.max(Duration::from_millis(1)))
                    .map(|(s, _)| s)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
        }
        // A credit first, then the records: so batches are numbered in the order they
        // can be written, and memory stays within the window.
        loop {
            match credits.recv_timeout(Duration::from_millis(50)) {
                Ok(()) => break,
                Err(RecvTimeoutError::Timeout) if !stop.load(Ordering::SeqCst) => {}
                Err(_) => return,
            }
        }
        let batch = {
            let mut state = pending.lock();
            match state.blocks.pop_front() {
                Some(block) => Batch::Lines(block),
                None => {
                    state.since = None;
                    Batch::Records(std::mem::take(&mut state.records))
                }
            }
        };
        pending.changed.notify_all();
        if work.send((seq, batch)).is_err() {
            return;
        }
        seq += 1;
    }
}

/// Hands batches to the sink in input order, returning a credit per batch written.
fn deliver<T>(
    done: Receiver<(u64, T)>,
    credits: Sender<()>,
    sink: &mut dyn Deliver<T>,
) -> io::Result<()> {
    let mut next = 0u64;
    let mut waiting = std::collections::BTreeMap::new();
    loop {
        let (seq, batch) = match done.try_recv() {
            Ok(item) => item,
            Err(_) => {
                sink.idle()?;
                match done.recv() {
                    Ok(item) => item,
                    Err(_) => return Ok(()),
                }
            }
        };
        waiting.insert(seq, batch);
        while let Some(batch) = waiting.remove(&next) {
            sink.take(batch)?;
            next += 1;
            let _ = credits.send(());
        }
    }
}

impl<F: FnMut(Outcome) -> io::Result<()>> Sink for F {
    fn take(&mut self, outcome: Outcome) -> io::Result<()> {
        self(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{InputFormat, ReadOptions};
    use crate::rules::Rules;
    use std::path::PathBuf;

    fn scorer() -> Scorer {
        let rules = "rules:\n  - id: big\n    when: { field: budget, gte: 10000 }\n    points: 50\n    signals: [budget]\n";
        Scorer::new(
            Rules::from_sources(vec![(PathBuf::from("r.yaml"), rules.to_string())]).unwrap(),
        )
    }

    fn run(input: String, threads: usize) -> Vec<String> {
        let reader = RecordReader::new(
            Box::new(io::Cursor::new(input.into_bytes())),
            InputFormat::Jsonl,
            "in",
            &ReadOptions::default(),
        );
        let mut out = Vec::new();
        Pipeline::new(&scorer(), Date::UNIX_EPOCH)
            .threads(threads)
            .run(reader, &mut |o: Outcome| {
                out.push(match o.result {
                    Ok(v) => v.to_json_line(),
                    Err(r) => format!("{}: {}", o.position, r.reason),
                });
                Ok(())
            })
            .unwrap();
        out
    }

    fn input(n: usize) -> String {
        (0..n)
            .map(|i| match i % 97 {
                0 => "{broken\n".to_string(),
                _ => format!("{{\"id\": {i}, \"budget\": {}}}\n", i * 37 % 20000),
            })
            .collect()
    }

    /// Verdicts with a score over 0, rendered as their JSON line.
    struct Scored;

    impl Render for Scored {
        fn render(&self, verdict: &Verdict, out: &mut Vec<u8>) -> bool {
            let kept = verdict.score > 0;
            if kept {
                verdict.write_json(out);
                out.push(b'\n');
            }
            kept
        }
    }

    #[derive(Default)]
    struct Collected {
        bytes: Vec<u8>,
        scored: u64,
        written: u64,
        rejected: Vec<String>,
        batches: usize,
    }

    impl RenderedSink for Collected {
        fn take_batch(&mut self, batch: RenderedBatch) -> io::Result<()> {
            self.bytes.extend_from_slice(&batch.bytes);
            self.scored += batch.scored;
            self.written += batch.written;
            self.rejected
                .extend(batch.rejected.iter().map(|o| o.position.to_string()));
            self.batches += 1;
            Ok(())
        }
    }

    #[test]
    fn rendered_batches_hold_what_run_gives_in_the_same_order() {
        let text = input(3000);
        let outcomes = run(text.clone(), 1);
        let kept: String = outcomes
            .iter()
            .filter(|l| l.starts_with('{') && !l.contains("\"score\":0,"))
            .map(|l| format!("{l}\n"))
            .collect();
        for threads in [1, 3] {
            let reader = RecordReader::new(
                Box::new(io::Cursor::new(text.clone().into_bytes())),
                InputFormat::Jsonl,
                "in",
                &ReadOptions::default(),
            );
            let mut sink = Collected::default();
            Pipeline::new(&scorer(), Date::UNIX_EPOCH)
                .threads(threads)
                .run_rendered(reader, &Scored, &mut sink)
                .unwrap();
            assert_eq!(String::from_utf8(sink.bytes).unwrap(), kept);
            assert_eq!(sink.scored + sink.rejected.len() as u64, 3000);
            assert_eq!(sink.written as usize, kept.lines().count());
            assert_eq!(sink.rejected.len(), 31);
            assert_eq!(sink.rejected[1], "in:98");
            assert!(sink.batches > 1);
        }
    }

    /// Rules whose verdicts follow from which rules matched: signals, a fixed reason
    /// and disqualification, dimensions, a grade, stages that require signals, grades
    /// and scores, and an `expr:` that fails on leads without a budget.
    const SHAPED: &str = r#"
fields:
  budget: { type: number }
  views: { type: integer }
settings:
  scores:
    fit: { min: 0, max: 60 }
  grade:
    score: fit
    bands:
      - { grade: A, min: 40 }
      - { grade: B, min: 0 }
rules:
  - id: budget
    when: { field: budget, gte: 10000 }
    points: 30
    score: fit
    signals: [budget]
    reason: a confirmed budget
  - id: need
    when: { field: pain, exists: true }
    points: 20
    signals: [need, "a \"quoted\" signal"]
  - id: busy
    when: { field: views, gte: 5 }
    points: 10
    score: fit
  - id: per_view
    when: { expr: "lead.budget / 1000.0 > 3.0" }
    points: 5
  - id: student
    when: { field: email, ends_with: .edu }
    points: -50
    disqualify: a student
stages:
  - { id: out, disqualified: true }
  - { id: hot, min_score: 50, requires: [budget, need], grades: [A] }
  - { id: warm, min_score: 20, requires: [need] }
  - { id: cold }
"#;

    fn shaped_scorer() -> Scorer {
        let rules = Rules::from_sources(vec![(PathBuf::from("r.yaml"), SHAPED.to_string())]);
        Scorer::new(rules.unwrap())
    }

    /// Leads of many shapes, with ids of every kind and none, and records that are
    /// broken or do not fit.
    fn varied(n: usize) -> String {
        (0..n)
            .map(|i| {
                let id = match i % 5 {
                    0 => format!("\"id\": \"L-{i}\", "),
                    1 => format!("\"id\": {i}, "),
                    2 => String::new(),
                    3 => "\"id\": null, ".to_string(),
                    _ => format!("\"id\": \"tab\\t{i} \\\"q\\\"\", "),
                };
                match i % 89 {
                    0 => "{broken\n".to_string(),
                    1 => format!("{{{id}\"budget\": \"lots\"}}\n"),
                    _ => format!(
                        "{{{id}{}\"views\": {}, {}\"email\": \"{}\"}}\n",
                        match i % 7 {
                            0 => String::new(),
                            _ => format!("\"budget\": {}, ", (i * 37) % 20000),
                        },
                        i % 9,
                        if i % 3 == 0 {
                            "\"pain\": \"yes\", "
                        } else {
                            ""
                        },
                        if i % 11 == 0 {
                            "a@uni.edu"
                        } else {
                            "a@acme.com"
                        },
                    ),
                }
            })
            .collect()
    }

    /// JSON rows, kept when the stage is not `cold`, saying where their id starts:
    /// `honest: false` says so and then writes the id elsewhere.
    struct Rows {
        honest: bool,
    }

    impl Render for Rows {
        fn render(&self, verdict: &Verdict, out: &mut Vec<u8>) -> bool {
            let kept = &*verdict.stage != "cold";
            if kept {
                if !self.honest {
                    out.push(b' ');
                }
                verdict.write_json(out);
                out.push(b'\n');
            }
            kept
        }

        fn id_start(&self) -> Option<&[u8]> {
            Some(b"{\"id\":")
        }
    }

    #[test]
    fn leads_of_a_known_shape_get_the_rows_each_would_have_alone() {
        let scorer = shaped_scorer();
        assert!(scorer.shaped());
        let text = varied(6000);
        let reader = |text: &str| {
            RecordReader::new(
                Box::new(io::Cursor::new(text.to_string().into_bytes())),
                InputFormat::Jsonl,
                "in",
                &ReadOptions::default(),
            )
        };
        let mut each = Vec::new();
        Pipeline::new(&scorer, Date::UNIX_EPOCH)
            .threads(1)
            .run(reader(&text), &mut |o: Outcome| {
                each.push(o);
                Ok(())
            })
            .unwrap();
        let verdicts: Vec<&Verdict> = each.iter().filter_map(|o| o.result.as_ref().ok()).collect();
        assert!(
            verdicts.iter().any(|v| !v.errors.is_empty()),
            "an expr failed"
        );
        for honest in [true, false] {
            let rows = Rows { honest };
            let mut expected = Vec::new();
            let written = verdicts
                .iter()
                .filter(|v| rows.render(v, &mut expected))
                .count();
            for threads in [1, 3] {
                let mut sink = Collected::default();
                Pipeline::new(&scorer, Date::UNIX_EPOCH)
                    .threads(threads)
                    .run_rendered(reader(&text), &rows, &mut sink)
                    .unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&sink.bytes),
                    String::from_utf8_lossy(&expected),
                    "honest: {honest}, threads: {threads}"
                );
                assert_eq!(sink.written as usize, written);
                assert_eq!(sink.scored as usize, verdicts.len());
                assert_eq!(sink.rejected.len(), each.len() - verdicts.len());
            }
        }
    }

    #[test]
    fn parallel_output_equals_single_threaded_output() {
        let text = input(5000);
        let one = run(text.clone(), 1);
        assert_eq!(one.len(), 5000);
        assert_eq!(run(text, 4), one);
    }

    #[test]
    fn outcomes_keep_input_order_and_count_every_record() {
        let out = run(input(1000), 3);
        assert_eq!(out.len(), 1000);
        assert_eq!(
            out.iter().filter(|l| l.contains("malformed JSON")).count(),
            11
        );
        assert!(out[1].starts_with("{\"id\":1,"), "{}", out[1]);
        assert!(out[999].starts_with("{\"id\":999,"), "{}", out[999]);
    }

    #[test]
    fn records_of_a_stalled_stream_are_scored_before_it_ends() {
        use std::io::Write as _;
        let (read_end, mut write_end) = io::pipe().unwrap();
        let reader = RecordReader::new(
            Box::new(io::BufReader::new(read_end)),
            InputFormat::Jsonl,
            "in",
            &ReadOptions::default(),
        );
        let (tx, rx) = std::sync::mpsc::channel();
        let scorer = scorer();
        let running = std::thread::spawn(move || {
            Pipeline::new(&scorer, Date::UNIX_EPOCH)
                .threads(2)
                .run(reader, &mut |o: Outcome| {
                    let _ = tx.send(o.position.line);
                    Ok(())
                })
        });
        // A burst, then silence with the stream still open.
        write_end
            .write_all(b"{\"id\": 1}\n{\"id\": 2}\n{\"id\": 3}\n")
            .unwrap();
        write_end.flush().unwrap();
        let mut seen = Vec::new();
        while seen.len() < 3 {
            let line = rx
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("a verdict while the input is open");
            seen.push(line);
        }
        assert_eq!(seen, [1, 2, 3]);
        drop(write_end);
        running.join().unwrap().unwrap();
    }

    #[test]
    fn a_failing_sink_stops_the_pipeline_without_hanging() {
        let reader = RecordReader::new(
            Box::new(io::Cursor::new(input(100_000).into_bytes())),
            InputFormat::Jsonl,
            "in",
            &ReadOptions::default(),
        );
        let mut taken = 0;
        let err = Pipeline::new(&scorer(), Date::UNIX_EPOCH)
            .threads(2)
            .run(reader, &mut |_: Outcome| {
                taken += 1;
                if taken == 10 {
                    Err(io::Error::from(io::ErrorKind::BrokenPipe))
                } else {
                    Ok(())
                }
            })
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(150))]

        /// Scoring blocks of lines where they lie gives, record for record, what
        /// scoring each record cut on its own gives: verdicts, rejections and places.
        #[test]
        fn blocks_score_as_records_cut_one_by_one(
            lines in proptest::collection::vec(proptest::sample::select(vec![
                "{\"id\": 1, \"budget\": 20000}", "{\"budget\": 500}", "", " ", "{broken",
                "{\"id\": \"over the limit of forty bytes, surely\"}", "{\"budget\": \"x\"}\r",
                "[1]", "{\"id\": \"\\u00e9\"}",
            ]), 0..40),
            per_read in 1usize..64,
            threads in 1usize..4,
        ) {
            let input = lines.join("\n").into_bytes();
            let options = ReadOptions { max_record_bytes: 40, ..ReadOptions::default() };
            let reader = |per_read| RecordReader::new(
                Box::new(io::BufReader::with_capacity(5, crate::io::testing::Trickle {
                    bytes: input.clone(), at: 0, per_read,
                })),
                InputFormat::Jsonl,
                "in",
                &options,
            );
            let scorer = scorer();
            let show = |o: Outcome| match o.result {
                Ok(v) => format!("{} {}", o.position, v.to_json_line()),
                Err(r) => format!("{} {} / {}", o.position, r.reason, r.raw),
            };
            let mut one_by_one = reader(input.len().max(1));
            let expected: Vec<String> = std::iter::from_fn(|| one_by_one.next_raw())
                .map(|raw| show(scorer.score_record(raw, Date::UNIX_EPOCH)))
                .collect();
            let mut got = Vec::new();
            Pipeline::new(&scorer, Date::UNIX_EPOCH)
                .threads(threads)
                .run(reader(per_read), &mut |o: Outcome| {
                    got.push(show(o));
                    Ok(())
                })
                .unwrap();
            prop_assert_eq!(got, expected);
        }
    }
}
