//! Blocks of worker uids for sandbox pools. Every sample of a pool runs as one of its block's
//! uids, and a zygote sweeps what its samples left behind with a kill-by-uid; two pools that
//! are alive at once in one process (concurrent evaluations) must therefore never hold the
//! same block, however many pools came and went before them.

use crate::sandbox::{MAX_WORKERS, UID_BASE};
use std::sync::{Condvar, Mutex, PoisonError};

/// Blocks per process; the process id picks which range of blocks is this process's.
const BLOCKS: u32 = 8;

const _: () = assert!(BLOCKS <= u8::BITS);

/// Which blocks are held (bit `i`: block `i`), and a signal for when one is given back.
#[derive(Debug, Default)]
pub(crate) struct Blocks {
    held: Mutex<u8>,
    freed: Condvar,
}

/// This process's blocks.
static PROCESS: Blocks = Blocks { held: Mutex::new(0), freed: Condvar::new() };

/// One block of [`MAX_WORKERS`] uids, held until dropped (after the pool's zygotes are gone).
#[derive(Debug)]
pub(crate) struct UidBlock {
    index: u32,
    from: &'static Blocks,
}

impl UidBlock {
    /// A block that no live pool of this process holds.
    pub(crate) fn claim() -> Self {
        Self::claim_from(&PROCESS)
    }

    /// A block of `from` that nobody holds; waits for one to be given back when all
    /// [`BLOCKS`] are held (that many evaluations at once in one process).
    fn claim_from(from: &'static Blocks) -> Self {
        let mut held = from.held.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(index) = (0..BLOCKS).find(|&i| *held & (1 << i) == 0) {
                *held |= 1 << index;
                return Self { index, from };
            }
            held = from.freed.wait(held).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The block's first uid: far above ordinary accounts, and apart from other processes'
    /// blocks unless their pids are equal modulo 50,000.
    pub(crate) fn first_uid(&self) -> u32 {
        let slot = (std::process::id() % 50_000) * BLOCKS + self.index;
        UID_BASE + slot * MAX_WORKERS as u32
    }
}

impl Drop for UidBlock {
    fn drop(&mut self) {
        *self.from.held.lock().unwrap_or_else(PoisonError::into_inner) &= !(1 << self.index);
        self.from.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block held while many others are claimed and given back is never handed out again
    /// (a counter modulo the block count would hand it out on the eighth claim); all blocks
    /// at once are distinct uids below 2^31; a claim with every block held waits until one
    /// is given back, and gets that one.
    #[test]
    fn a_held_block_is_never_handed_out_twice() {
        let blocks: &'static Blocks = Box::leak(Box::default());
        let kept = UidBlock::claim_from(blocks);
        for _ in 0..3 * BLOCKS {
            let other = UidBlock::claim_from(blocks);
            assert_ne!(other.first_uid(), kept.first_uid());
        }
        let mut all: Vec<UidBlock> = (1..BLOCKS).map(|_| UidBlock::claim_from(blocks)).collect();
        all.push(kept);
        let mut uids: Vec<u32> = all.iter().map(UidBlock::first_uid).collect();
        uids.sort_unstable();
        uids.dedup();
        assert_eq!(uids.len(), BLOCKS as usize, "every block at once, each once");
        assert!(uids.iter().all(|&u| u >= UID_BASE && u + MAX_WORKERS as u32 <= i32::MAX as u32));
        let waiter = std::thread::spawn(move || UidBlock::claim_from(blocks));
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!waiter.is_finished(), "a ninth claim waits");
        let freed = all.pop().expect("a block").first_uid();
        assert_eq!(waiter.join().expect("claimed").first_uid(), freed, "it gets the block given back");
    }
}
