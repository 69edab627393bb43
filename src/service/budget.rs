//! The room for request bodies held at once, across all requests (`--max-body-total`).
//! `--max-body` bounds one request; without a total, every connection could hold one
//! body of that size (1024 x 10 MiB at the defaults). A request reserves room for its
//! body before reading it (its Content-Length, or the largest allowed when it has none)
//! and keeps the room until it is answered; when the room is taken it waits, which
//! `--request-timeout` bounds (408).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Room is counted in KiB so that budgets of many GiB fit a semaphore's permits.
const UNIT: usize = 1024;

/// Shared room for request bodies.
#[derive(Debug)]
pub(crate) struct BodyBudget {
    units: Arc<Semaphore>,
    total_units: u32,
    /// Requests waiting for room now.
    waiting: AtomicU64,
}

/// Counts a request as waiting until dropped (also when the wait is abandoned).
struct Waiting<'a>(&'a AtomicU64);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicU64) -> Waiting<'a> {
        count.fetch_add(1, Ordering::Relaxed);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Room reserved for one body, given back when dropped.
#[derive(Debug)]
pub(crate) struct Room {
    _units: OwnedSemaphorePermit,
}

impl BodyBudget {
    /// A budget of `total_bytes` (at least 1 KiB).
    pub(crate) fn new(total_bytes: usize) -> BodyBudget {
        let most = Semaphore::MAX_PERMITS.min(u32::MAX as usize);
        let total_units = total_bytes.div_ceil(UNIT).clamp(1, most);
        BodyBudget {
            units: Arc::new(Semaphore::new(total_units)),
            total_units: u32::try_from(total_units).unwrap_or(u32::MAX),
            waiting: AtomicU64::new(0),
        }
    }

    /// Room for a body of `bytes`, waiting while other requests hold it; waiting requests
    /// are served in turn, so a large body is not starved by small ones. A body larger
    /// than the whole budget takes all of it, so it still runs, alone.
    pub(crate) async fn reserve(&self, bytes: u64) -> Room {
        let units = bytes
            .div_ceil(UNIT as u64)
            .clamp(1, u64::from(self.total_units));
        let units = u32::try_from(units).unwrap_or(self.total_units);
        if let Ok(permit) = Arc::clone(&self.units).try_acquire_many_owned(units) {
            return Room { _units: permit };
        }
        tracing::debug!(
            bytes,
            "a request body is waiting for room (--max-body-total)"
        );
        let _waiting = Waiting::new(&self.waiting);
        match Arc::clone(&self.units).acquire_many_owned(units).await {
            Ok(permit) => Room { _units: permit },
            // Only a closed semaphore fails, and nothing closes it.
            Err(_) => std::future::pending().await,
        }
    }

    /// Bytes of room reserved now, or set aside for the request first in line.
    pub(crate) fn reserved_bytes(&self) -> u64 {
        let free = self.units.available_permits() as u64;
        (u64::from(self.total_units) - free.min(u64::from(self.total_units))) * UNIT as u64
    }

    /// Requests waiting for room now.
    pub(crate) fn waiting(&self) -> u64 {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Bytes of room free now.
    #[cfg(test)]
    fn free(&self) -> usize {
        self.units.available_permits() * UNIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bodies_wait_for_room_in_turn_and_give_it_back() {
        let budget = Arc::new(BodyBudget::new(10 * UNIT));
        let big = budget.reserve(8 * UNIT as u64).await;
        assert_eq!(budget.free(), 2 * UNIT);
        // 3 KiB does not fit beside 8: it waits (setting aside the 2 free) until the 8
        // are given back, and later requests queue behind it, so none starves.
        let spawn = |bytes: u64| {
            let budget = Arc::clone(&budget);
            tokio::spawn(async move { budget.reserve(bytes).await })
        };
        let three = spawn(3 * UNIT as u64);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let one = spawn(1);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!three.is_finished() && !one.is_finished());
        assert_eq!(
            (budget.waiting(), budget.reserved_bytes()),
            (2, 10 * UNIT as u64)
        );
        drop(big);
        let (three, one) = (three.await.unwrap(), one.await.unwrap());
        assert_eq!((budget.waiting(), budget.free()), (0, 6 * UNIT));
        drop((three, one));
        assert_eq!(budget.free(), 10 * UNIT);
    }

    #[tokio::test]
    async fn a_body_larger_than_the_budget_takes_all_of_it() {
        let budget = BodyBudget::new(4 * UNIT);
        let all = budget.reserve(u64::MAX).await;
        assert_eq!(budget.free(), 0);
        drop(all);
        assert_eq!(budget.free(), 4 * UNIT);
    }
}
