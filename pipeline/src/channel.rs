//! The only file that names the channel crates. Two kinds of bounded queue,
//! each optionally bounded in bytes as well as in items:
//! - [`bounded`]: crossbeam, feeding the processor chain's thread(s) from the
//!   receivers (non-blocking `try_send` on the async side, blocking receive).
//! - [`export_queue`]: tokio mpsc, from the chain's thread (blocking send, so a
//!   full exporter queue backpressures the chain) to an async export task.
//!
//! A byte budget bounds what waits in a queue by its estimated memory, so a
//! slow exporter or a burst of large requests cannot grow the process without
//! bound: a queue of 64 small requests and one of 64 batches of 8192 records
//! are very different things. The budget always admits one item into an empty
//! queue, so an item larger than the budget cannot wedge it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

pub use crossbeam_channel::RecvTimeoutError;

/// An estimate of what a queued value holds in memory, in bytes.
pub trait Weigh {
    fn weight(&self) -> usize;
}

impl Weigh for crate::Batch {
    fn weight(&self) -> usize {
        self.memory_weight()
    }
}

/// What all queues built with it hold together, by their byte estimates
/// (`service.memory_limit_mib`). Receivers consult it before handing a
/// request over, so intake stops (503) while the process as a whole is full,
/// whichever queue holds the bytes; the queues themselves never block on it,
/// so a full process still drains.
#[derive(Clone)]
pub struct MemoryLimit(Arc<MemoryLimitState>);

struct MemoryLimitState {
    limit: usize,
    used: AtomicUsize,
}

impl MemoryLimit {
    pub fn new(limit_bytes: usize) -> MemoryLimit {
        MemoryLimit(Arc::new(MemoryLimitState {
            limit: limit_bytes,
            used: AtomicUsize::new(0),
        }))
    }

    /// Whether `cost` more bytes fit (always, when nothing is held).
    pub fn admits(&self, cost: usize) -> bool {
        let used = self.used();
        used == 0 || used.saturating_add(cost) <= self.0.limit
    }

    pub fn used(&self) -> usize {
        self.0.used.load(Ordering::Relaxed)
    }

    /// Counts `n` bytes held outside the queues (a request body being
    /// read) if they fit, by the same rule as [`admits`](Self::admits);
    /// give them back with [`release`](Self::release).
    pub fn try_hold(&self, n: usize) -> bool {
        let state = &self.0;
        let mut used = state.used.load(Ordering::Relaxed);
        loop {
            if used != 0 && used.saturating_add(n) > state.limit {
                return false;
            }
            match state.used.compare_exchange_weak(
                used,
                used.saturating_add(n),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }

    /// Gives back bytes counted by [`try_hold`](Self::try_hold).
    pub fn release(&self, n: usize) {
        self.sub(n);
    }

    fn add(&self, n: usize) {
        self.0.used.fetch_add(n, Ordering::Relaxed);
    }

    fn sub(&self, n: usize) {
        // Every sub follows its add, so this never wraps.
        self.0.used.fetch_sub(n, Ordering::Relaxed);
    }
}

/// Bytes waiting in one queue, shared by its two ends.
#[derive(Clone)]
struct Budget(Arc<BudgetState>);

struct BudgetState {
    limit: usize,
    total: Option<MemoryLimit>,
    inner: Mutex<BudgetInner>,
    freed: Condvar,
}

#[derive(Default)]
struct BudgetInner {
    used: usize,
    closed: bool,
}

impl Budget {
    fn new(limit: usize, total: Option<MemoryLimit>) -> Budget {
        Budget(Arc::new(BudgetState {
            limit,
            total,
            inner: Mutex::new(BudgetInner::default()),
            freed: Condvar::new(),
        }))
    }

    fn fits(&self, inner: &BudgetInner, cost: usize) -> bool {
        inner.used == 0 || inner.used.saturating_add(cost) <= self.0.limit
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BudgetInner> {
        // A panic while holding this lock leaves only a counter behind.
        self.0.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn try_take(&self, cost: usize) -> bool {
        let mut inner = self.lock();
        if self.fits(&inner, cost) {
            inner.used += cost;
            self.count(cost);
            true
        } else {
            false
        }
    }

    /// Waits until `cost` fits or the receiving end is gone (then `false`).
    fn take_blocking(&self, cost: usize) -> bool {
        let mut inner = self.lock();
        while !inner.closed && !self.fits(&inner, cost) {
            inner = self.0.freed.wait(inner).unwrap_or_else(|p| p.into_inner());
        }
        if inner.closed {
            return false;
        }
        inner.used += cost;
        self.count(cost);
        true
    }

    fn count(&self, cost: usize) {
        if let Some(t) = &self.0.total {
            t.add(cost);
        }
    }

    fn give(&self, cost: usize) {
        if cost == 0 {
            return;
        }
        let mut inner = self.lock();
        let given = cost.min(inner.used);
        inner.used -= given;
        drop(inner);
        if let Some(t) = &self.0.total {
            t.sub(given);
        }
        self.0.freed.notify_all();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.0.freed.notify_all();
    }

    fn has_room(&self) -> bool {
        self.lock().used < self.0.limit
    }

    fn would_fit(&self, cost: usize) -> bool {
        self.fits(&self.lock(), cost)
    }

    fn used(&self) -> usize {
        self.lock().used
    }

    fn limit(&self) -> usize {
        self.0.limit
    }
}

/// How a queue weighs its values: not at all, or by [`Weigh`] against a budget.
struct Meter<T> {
    budget: Option<Budget>,
    weigh: fn(&T) -> usize,
}

impl<T> Clone for Meter<T> {
    fn clone(&self) -> Self {
        Meter {
            budget: self.budget.clone(),
            weigh: self.weigh,
        }
    }
}

impl<T> Meter<T> {
    fn none() -> Self {
        Meter {
            budget: None,
            weigh: |_| 0,
        }
    }

    fn bytes(max_bytes: usize, total: Option<MemoryLimit>) -> Self
    where
        T: Weigh,
    {
        Meter {
            budget: Some(Budget::new(max_bytes, total)),
            weigh: T::weight,
        }
    }

    fn cost(&self, value: &T) -> usize {
        match self.budget {
            Some(_) => (self.weigh)(value),
            None => 0,
        }
    }

    fn give(&self, cost: usize) {
        if let Some(b) = &self.budget {
            b.give(cost);
        }
    }
}

/// Sending half of a chain input queue.
pub struct Sender<T> {
    tx: crossbeam_channel::Sender<(T, usize)>,
    meter: Meter<T>,
    room: Arc<Room>,
}

/// Receiving half of a chain input queue.
pub struct Receiver<T> {
    rx: crossbeam_channel::Receiver<(T, usize)>,
    meter: Meter<T>,
    /// Wakes one sender waiting in [`Sender::wait_for_room`] per value taken.
    room: Arc<Room>,
}

/// How the receiving end of a chain input queue tells waiting senders that
/// it took a value, or that it is gone.
#[derive(Default)]
struct Room {
    taken: tokio::sync::Notify,
    closed: std::sync::atomic::AtomicBool,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            tx: self.tx.clone(),
            meter: self.meter.clone(),
            room: self.room.clone(),
        }
    }
}

/// The longest a waiting sender sleeps before it looks at the queue again,
/// should a wake-up have gone to a sender that no longer wanted it.
const ROOM_RECHECK: std::time::Duration = std::time::Duration::from_millis(20);

/// Why a `try_send` did not go through; the value comes back.
#[derive(Debug)]
pub enum TrySendError<T> {
    Full(T),
    Closed(T),
}

/// A queue bounded in items only.
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    with_meter(capacity, Meter::none())
}

/// A queue bounded in items and in the bytes its waiting values weigh.
pub fn bounded_bytes<T: Weigh>(capacity: usize, max_bytes: usize) -> (Sender<T>, Receiver<T>) {
    with_meter(capacity, Meter::bytes(max_bytes, None))
}

/// [`bounded_bytes`], also counted against a process-wide [`MemoryLimit`].
pub fn bounded_bytes_within<T: Weigh>(
    capacity: usize,
    max_bytes: usize,
    total: &MemoryLimit,
) -> (Sender<T>, Receiver<T>) {
    with_meter(capacity, Meter::bytes(max_bytes, Some(total.clone())))
}

fn with_meter<T>(capacity: usize, meter: Meter<T>) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = crossbeam_channel::bounded(capacity);
    let room = Arc::new(Room::default());
    (
        Sender {
            tx,
            meter: meter.clone(),
            room: room.clone(),
        },
        Receiver { rx, meter, room },
    )
}

impl<T> Sender<T> {
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let cost = self.meter.cost(&value);
        if let Some(b) = &self.meter.budget {
            if !b.try_take(cost) {
                return Err(TrySendError::Full(value));
            }
        }
        self.tx.try_send((value, cost)).map_err(|e| {
            self.meter.give(cost);
            match e {
                crossbeam_channel::TrySendError::Full((v, _)) => TrySendError::Full(v),
                crossbeam_channel::TrySendError::Disconnected((v, _)) => TrySendError::Closed(v),
            }
        })
    }

    /// Blocking send; only for threads outside the async runtime.
    pub fn send_blocking(&self, value: T) -> Result<(), T> {
        let cost = self.meter.cost(&value);
        if let Some(b) = &self.meter.budget {
            if !b.take_blocking(cost) {
                return Err(value);
            }
        }
        self.tx.send((value, cost)).map_err(|e| {
            self.meter.give(cost);
            e.0 .0
        })
    }

    /// No room for another value (by count or by bytes).
    pub fn is_full(&self) -> bool {
        self.tx.is_full() || self.meter.budget.as_ref().is_some_and(|b| !b.has_room())
    }

    /// Whether a value weighing `cost` would go in now: a free slot, and
    /// `cost` within the byte budget (by the rule `try_send` applies).
    fn has_room_for_cost(&self, cost: usize) -> bool {
        !self.tx.is_full() && self.meter.budget.as_ref().is_none_or(|b| b.would_fit(cost))
    }

    /// Waits until `value` would go in (or the queue is closed: `try_send`
    /// then says so) or `deadline` passes; false when there is still no
    /// room for it then. The receiving end wakes one waiting sender for
    /// each value it takes, so a full queue costs no polling while senders
    /// wait, and they are let in about in the order they came.
    pub async fn wait_for_room(&self, value: &T, deadline: Instant) -> bool {
        self.wait_until_room(self.meter.cost(value), deadline, false)
            .await
    }

    /// [`wait_for_room`](Self::wait_for_room) for a value not at hand yet,
    /// expected to weigh about `cost` bytes: a receiver asks before it reads
    /// a request body, so bodies that could not go in yet stay unread.
    /// Nothing is reserved: the value may still find the queue full.
    pub async fn wait_for_room_for(&self, cost: usize, deadline: Instant) -> bool {
        self.wait_until_room(cost, deadline, true).await
    }

    /// `pass_on`: the caller takes no room now, so a wake-up it used goes
    /// on to the next waiting sender. Kept, it left a sender holding a
    /// decoded request asleep beside a free slot (up to `ROOM_RECHECK`)
    /// while the chain ran dry: 0.85-0.94 of a core used instead of 1.
    async fn wait_until_room(&self, cost: usize, deadline: Instant, pass_on: bool) -> bool {
        let mut woken = false;
        loop {
            let taken = self.room.taken.notified();
            tokio::pin!(taken);
            // Registered before looking, so a value taken in between still wakes us.
            taken.as_mut().enable();
            if self.has_room_for_cost(cost) || self.room.closed.load(Ordering::Acquire) {
                if woken && pass_on {
                    self.room.taken.notify_one();
                }
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let until = deadline.min(now + ROOM_RECHECK);
            woken = tokio::time::timeout_at(until.into(), taken).await.is_ok();
        }
    }

    pub fn len(&self) -> usize {
        self.tx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tx.is_empty()
    }
}

impl<T> Receiver<T> {
    /// Waits for a value until `deadline` (forever when `None`).
    pub fn recv_deadline(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        let (value, cost) = match deadline {
            Some(d) => self.rx.recv_deadline(d)?,
            None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected)?,
        };
        self.meter.give(cost);
        self.room.taken.notify_one();
        Ok(value)
    }

    pub fn try_recv(&self) -> Option<T> {
        let (value, cost) = self.rx.try_recv().ok()?;
        self.meter.give(cost);
        self.room.taken.notify_one();
        Some(value)
    }

    pub fn len(&self) -> usize {
        self.rx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// Bytes waiting, by the queue's weights (0 when it has no byte budget).
    pub fn bytes_waiting(&self) -> usize {
        self.meter.budget.as_ref().map_or(0, Budget::used)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if let Some(b) = &self.meter.budget {
            b.close();
        }
        // Waiting senders find the queue closed instead of sleeping on.
        self.room.closed.store(true, Ordering::Release);
        self.room.taken.notify_waiters();
    }
}

/// Sending half of an exporter's queue.
pub struct QueueSender<T> {
    tx: tokio::sync::mpsc::Sender<(T, usize)>,
    meter: Meter<T>,
}

/// Receiving half of an exporter's queue, owned by its export task.
pub struct QueueReceiver<T> {
    rx: tokio::sync::mpsc::Receiver<(T, usize)>,
    meter: Meter<T>,
}

impl<T> Clone for QueueSender<T> {
    fn clone(&self) -> Self {
        QueueSender {
            tx: self.tx.clone(),
            meter: self.meter.clone(),
        }
    }
}

/// An exporter queue bounded in items only.
pub fn export_queue<T>(capacity: usize) -> (QueueSender<T>, QueueReceiver<T>) {
    export_with_meter(capacity, Meter::none())
}

/// An exporter queue bounded in items and in the bytes its waiting values weigh.
pub fn export_queue_bytes<T: Weigh>(
    capacity: usize,
    max_bytes: usize,
) -> (QueueSender<T>, QueueReceiver<T>) {
    export_with_meter(capacity, Meter::bytes(max_bytes, None))
}

/// [`export_queue_bytes`], also counted against a process-wide [`MemoryLimit`].
pub fn export_queue_bytes_within<T: Weigh>(
    capacity: usize,
    max_bytes: usize,
    total: &MemoryLimit,
) -> (QueueSender<T>, QueueReceiver<T>) {
    export_with_meter(capacity, Meter::bytes(max_bytes, Some(total.clone())))
}

fn export_with_meter<T>(capacity: usize, meter: Meter<T>) -> (QueueSender<T>, QueueReceiver<T>) {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
    (
        QueueSender {
            tx,
            meter: meter.clone(),
        },
        QueueReceiver { rx, meter },
    )
}

impl<T> QueueSender<T> {
    /// Blocks the calling (non-async) thread while the queue is full, by
    /// count or by bytes: this is how a slow exporter pushes back on the chain.
    pub fn send_blocking(&self, value: T) -> Result<(), T> {
        let cost = self.meter.cost(&value);
        if let Some(b) = &self.meter.budget {
            if !b.take_blocking(cost) {
                return Err(value);
            }
        }
        self.tx.blocking_send((value, cost)).map_err(|e| {
            self.meter.give(cost);
            e.0 .0
        })
    }
}

impl<T> QueueReceiver<T> {
    pub async fn recv(&mut self) -> Option<T> {
        let (value, cost) = self.rx.recv().await?;
        self.meter.give(cost);
        Some(value)
    }

    pub fn try_recv(&mut self) -> Option<T> {
        let (value, cost) = self.rx.try_recv().ok()?;
        self.meter.give(cost);
        Some(value)
    }

    pub fn len(&self) -> usize {
        self.rx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// Bytes waiting, by the queue's weights (0 when it has no byte budget).
    pub fn bytes_waiting(&self) -> usize {
        self.meter.budget.as_ref().map_or(0, Budget::used)
    }

    /// How many values the queue holds at most.
    pub fn capacity(&self) -> usize {
        self.rx.max_capacity()
    }

    /// Its byte budget, `None` when it is bounded in values only.
    pub fn byte_limit(&self) -> Option<usize> {
        self.meter.budget.as_ref().map(Budget::limit)
    }
}

impl<T> Drop for QueueReceiver<T> {
    fn drop(&mut self) {
        // Wakes a sender blocked on the budget, so it sees the queue is gone.
        if let Some(b) = &self.meter.budget {
            b.close();
        }
    }
}

/// A one-shot reply from a worker thread to an async caller.
pub struct ReplySender<T>(tokio::sync::oneshot::Sender<T>);
pub struct ReplyReceiver<T>(tokio::sync::oneshot::Receiver<T>);

pub fn reply<T>() -> (ReplySender<T>, ReplyReceiver<T>) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    (ReplySender(tx), ReplyReceiver(rx))
}

impl<T> ReplySender<T> {
    pub fn send(self, value: T) {
        // The caller may have given up (shutdown deadline); nothing to do then.
        let _ = self.0.send(value);
    }
}

impl<T> ReplyReceiver<T> {
    /// `None` when the worker went away without answering.
    pub async fn recv(self) -> Option<T> {
        self.0.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Blob(usize);
    impl Weigh for Blob {
        fn weight(&self) -> usize {
            self.0
        }
    }

    #[test]
    fn byte_budget_refuses_then_admits_after_receive() {
        let (tx, rx) = bounded_bytes::<Blob>(100, 10);
        tx.try_send(Blob(6)).unwrap();
        assert!(
            matches!(tx.try_send(Blob(6)), Err(TrySendError::Full(_))),
            "6 + 6 > 10"
        );
        tx.try_send(Blob(4)).unwrap();
        assert!(tx.is_full());
        assert_eq!(rx.bytes_waiting(), 10);
        rx.try_recv().unwrap();
        assert_eq!(rx.bytes_waiting(), 4);
        tx.try_send(Blob(6)).unwrap();
    }

    #[test]
    fn an_oversized_item_enters_an_empty_queue() {
        let (tx, rx) = bounded_bytes::<Blob>(100, 10);
        tx.try_send(Blob(50)).unwrap();
        assert!(matches!(tx.try_send(Blob(1)), Err(TrySendError::Full(_))));
        rx.try_recv().unwrap();
        tx.try_send(Blob(1)).unwrap();
    }

    #[test]
    fn a_blocked_sender_wakes_when_the_receiver_goes() {
        let (tx, rx) = export_queue_bytes::<Blob>(100, 10);
        tx.send_blocking(Blob(10)).unwrap();
        let t = std::thread::spawn(move || tx.send_blocking(Blob(5)).is_err());
        std::thread::sleep(std::time::Duration::from_millis(20));
        drop(rx);
        assert!(t.join().unwrap(), "send fails once the queue is gone");
    }

    #[tokio::test]
    async fn a_blocked_sender_proceeds_when_the_queue_drains() {
        let (tx, mut rx) = export_queue_bytes::<Blob>(100, 10);
        let t = std::thread::spawn(move || {
            tx.send_blocking(Blob(8)).unwrap();
            tx.send_blocking(Blob(8)).unwrap(); // waits for the first to leave
        });
        assert_eq!(rx.recv().await.unwrap().0, 8);
        assert_eq!(rx.recv().await.unwrap().0, 8);
        t.join().unwrap();
    }

    #[tokio::test]
    async fn a_waiting_sender_is_woken_by_a_receive_on_another_thread() {
        let (tx, rx) = bounded_bytes::<Blob>(100, 10);
        tx.try_send(Blob(10)).unwrap();
        let far = Instant::now() + std::time::Duration::from_secs(60);
        let chain = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            rx.try_recv().unwrap();
            rx
        });
        assert!(
            tx.wait_for_room(&Blob(10), far).await,
            "room once the value is taken"
        );
        tx.try_send(Blob(10)).unwrap();
        let rx = chain.join().unwrap();
        assert_eq!(rx.bytes_waiting(), 10);
    }

    /// Room for a small value is not room for this one: the wait is for
    /// room for the value at hand (a sender that took "not full" for room
    /// spun on `try_send` and starved the runtime's only worker).
    #[tokio::test]
    async fn the_wait_is_for_room_for_this_value() {
        let (tx, rx) = bounded_bytes::<Blob>(100, 10);
        tx.try_send(Blob(6)).unwrap();
        assert!(!tx.is_full(), "6 of 10 bytes: room for a small value");
        let soon = Instant::now() + std::time::Duration::from_millis(50);
        assert!(!tx.wait_for_room(&Blob(6), soon).await, "not for 6 more");
        assert!(Instant::now() >= soon);
        assert!(tx.wait_for_room(&Blob(4), soon).await, "4 more fit");
        rx.try_recv().unwrap();
        let far = Instant::now() + std::time::Duration::from_secs(60);
        assert!(tx.wait_for_room(&Blob(6), far).await);
        tx.try_send(Blob(6)).unwrap();
    }

    /// A receiver asks for room before it reads a body and takes none
    /// then: the wake-up of a take that reached it first goes on to the
    /// sender holding a value, not lost until the recheck. (Paused clock:
    /// only a timer, the recheck's, could move it.)
    #[tokio::test(start_paused = true)]
    async fn a_wake_up_used_without_a_value_goes_on_to_a_sender_with_one() {
        let (tx, rx) = bounded::<Blob>(1);
        tx.try_send(Blob(1)).unwrap();
        let far = Instant::now() + std::time::Duration::from_secs(60);
        let asking = tx.clone();
        let ahead = tokio::spawn(async move { asking.wait_for_room_for(1, far).await });
        tokio::task::yield_now().await;
        let holding = tx.clone();
        let behind = tokio::spawn(async move { holding.wait_for_room(&Blob(1), far).await });
        tokio::task::yield_now().await;
        assert!(!ahead.is_finished() && !behind.is_finished(), "both wait");
        let start = tokio::time::Instant::now();
        rx.try_recv().unwrap();
        assert!(ahead.await.unwrap());
        assert!(behind.await.unwrap(), "room for the value");
        assert!(
            start.elapsed() < ROOM_RECHECK,
            "woken by the take, not by the recheck ({:?})",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn a_queue_that_stays_full_ends_the_wait_at_the_deadline() {
        let (tx, rx) = bounded::<Blob>(1);
        tx.try_send(Blob(1)).unwrap();
        let soon = Instant::now() + std::time::Duration::from_millis(50);
        assert!(!tx.wait_for_room(&Blob(1), soon).await);
        assert!(Instant::now() >= soon);
        assert_eq!(rx.len(), 1);
        // A closed queue is not waited on: the send then says Closed.
        drop(rx);
        let far = Instant::now() + std::time::Duration::from_secs(60);
        let closed = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tx.wait_for_room(&Blob(1), far),
        );
        assert!(closed.await.expect("the wait ends when the receiver goes"));
        assert!(matches!(tx.try_send(Blob(1)), Err(TrySendError::Closed(_))));
    }

    #[test]
    fn queues_add_up_in_the_memory_limit() {
        let total = MemoryLimit::new(10);
        let (a, ra) = bounded_bytes_within::<Blob>(100, 100, &total);
        let (b, mut rb) = export_queue_bytes_within::<Blob>(100, 100, &total);
        assert!(total.admits(50), "an empty process admits anything once");
        a.try_send(Blob(6)).unwrap();
        b.send_blocking(Blob(3)).unwrap();
        assert_eq!(total.used(), 9);
        assert!(total.admits(1) && !total.admits(2));
        ra.try_recv().unwrap();
        rb.try_recv().unwrap();
        assert_eq!(total.used(), 0);
    }
}
