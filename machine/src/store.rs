//! A log's retained messages, in blocks.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;
use crate::message::{packed, Message, StoredMessage};

/// The retained messages of a log: indices `first_index..next_index`.
/// Cloning is cheap: the clone shares every block until one side changes
/// it (see [`Blocks`]).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct MessageStore {
    first_index: u64,
    /// Message `first_index + i` at position `i`.
    messages: Blocks,
    bytes: u64,
}

impl MessageStore {
    pub fn first_index(&self) -> u64 {
        self.first_index
    }

    pub fn next_index(&self) -> u64 {
        self.first_index + self.messages.len() as u64
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The message at `index`; the caller guarantees it is retained.
    pub fn get(&self, index: u64) -> &StoredMessage {
        debug_assert!(index >= self.first_index, "index {index} below retention");
        self.messages.get((index - self.first_index) as usize)
    }

    /// The message at `index`, or why there is none.
    pub fn lookup(&self, index: u64) -> Result<Message, Error> {
        if index >= self.next_index() {
            return Err(Error::UnknownIndex {
                index,
                next_index: self.next_index(),
            });
        }
        if index < self.first_index {
            return Err(Error::IndexNotRetained {
                index,
                first_index: self.first_index,
            });
        }
        Ok(Message::new(index, self.get(index).clone()))
    }

    /// Appends the message `next_index()`.
    pub fn push(&mut self, message: StoredMessage) {
        self.bytes += message.size_bytes();
        self.messages.push(message);
    }

    /// The retained messages with their indices, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &StoredMessage)> {
        (self.first_index..).zip(self.messages.iter())
    }

    pub fn drop_oldest(&mut self) {
        let message = self
            .messages
            .pop_front()
            .expect("drop_oldest on an empty store");
        self.bytes -= message.size_bytes();
        self.first_index += 1;
    }

    /// Loses the newest message without a trace: only the planted bug
    /// `SnapshotLosesLastMessage` does this.
    pub fn lose_newest(&mut self) {
        self.messages.pop_back();
    }
}

/// Messages per block: 160 KiB of [`StoredMessage`]s.
const BLOCK_LEN: usize = 4096;

/// A deque of messages kept in fixed blocks rather than in one ring
/// buffer. A ring grows by doubling and, once retention makes it wrap,
/// touches all of its capacity: at 40 bytes a message that idle half could
/// cost up to 0.4 times the payload of 100-byte messages. Blocks bound the
/// spare room to one block, and growing never copies messages.
///
/// Blocks are shared, copy on write: a clone (a snapshot being written on
/// another thread) costs a pointer per block, and afterwards a block is
/// copied, once, when it changes: the last as messages arrive, the first
/// as retention drops messages (each block retention reaches while the
/// clone lives).
#[derive(Clone, Debug, Default)]
struct Blocks {
    /// Each holds `BLOCK_LEN` slots; all are full but the last, and the
    /// first has lost its `front_dropped` oldest messages.
    blocks: VecDeque<Arc<VecDeque<StoredMessage>>>,
    front_dropped: usize,
    len: usize,
}

impl Blocks {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, position: usize) -> &StoredMessage {
        let slot = position + self.front_dropped;
        let (block, within) = (slot / BLOCK_LEN, slot % BLOCK_LEN);
        let before = if block == 0 { self.front_dropped } else { 0 };
        &self.blocks[block][within - before]
    }

    fn push(&mut self, message: StoredMessage) {
        let slots_used = |blocks: &Self| match blocks.blocks.len() {
            0 => BLOCK_LEN,
            1 => blocks.front_dropped + blocks.blocks[0].len(),
            n => blocks.blocks[n - 1].len(),
        };
        if slots_used(self) == BLOCK_LEN {
            self.blocks
                .push_back(Arc::new(VecDeque::with_capacity(BLOCK_LEN)));
        }
        let last = self.blocks.back_mut().expect("a block with room");
        own(last).push_back(message);
        self.len += 1;
    }

    fn pop_front(&mut self) -> Option<StoredMessage> {
        let first = own(self.blocks.front_mut()?);
        let message = first.pop_front().expect("blocks are never empty");
        self.front_dropped += 1;
        if first.is_empty() {
            self.blocks.pop_front();
            self.front_dropped = 0;
        }
        self.len -= 1;
        Some(message)
    }

    fn pop_back(&mut self) -> Option<StoredMessage> {
        let last = own(self.blocks.back_mut()?);
        let message = last.pop_back().expect("blocks are never empty");
        if last.is_empty() {
            self.blocks.pop_back();
            if self.blocks.is_empty() {
                self.front_dropped = 0;
            }
        }
        self.len -= 1;
        Some(message)
    }

    fn iter(&self) -> impl Iterator<Item = &StoredMessage> + Clone {
        self.blocks.iter().flat_map(|block| block.iter())
    }
}

/// The block to change, copied first if a clone shares it. The copy gets a
/// whole block's room, as a new block does (a clone of the last block
/// would get only its length, and then grow past `BLOCK_LEN`).
fn own(block: &mut Arc<VecDeque<StoredMessage>>) -> &mut VecDeque<StoredMessage> {
    if Arc::get_mut(block).is_none() {
        let mut copy = VecDeque::with_capacity(BLOCK_LEN);
        copy.extend(block.iter().cloned());
        *block = Arc::new(copy);
    }
    Arc::get_mut(block).expect("just made unique")
}

impl Serialize for Blocks {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        packed::serialize(self.iter(), self.len, serializer)
    }
}

impl<'de> Deserialize<'de> for Blocks {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut blocks = Blocks::default();
        packed::deserialize(deserializer, &mut |message| blocks.push(message))?;
        Ok(blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::NewMessage;

    fn message(n: u64) -> StoredMessage {
        StoredMessage::new(NewMessage::new(n.to_le_bytes()), n)
    }

    fn contents(blocks: &Blocks) -> Vec<u64> {
        (0..blocks.len())
            .map(|position| blocks.get(position).appended_at_ms())
            .collect()
    }

    #[test]
    fn blocks_behave_as_a_deque_across_block_edges() {
        let mut blocks = Blocks::default();
        let mut model = VecDeque::new();
        let mut next = 0;
        // Grow past two blocks, drain past one, grow again, drain to empty.
        for (pushes, pops) in [
            (2 * BLOCK_LEN + 5, BLOCK_LEN + 3),
            (BLOCK_LEN, 0),
            (3, 2 * BLOCK_LEN + 5),
        ] {
            for _ in 0..pushes {
                blocks.push(message(next));
                model.push_back(next);
                next += 1;
            }
            for _ in 0..pops {
                let popped = blocks.pop_front().map(|m| m.appended_at_ms());
                assert_eq!(popped, model.pop_front());
            }
            assert_eq!(contents(&blocks), Vec::from(model.clone()));
            let iterated: Vec<u64> = blocks.iter().map(StoredMessage::appended_at_ms).collect();
            assert_eq!(iterated, Vec::from(model.clone()));
            assert!(
                blocks.blocks.len() <= model.len() / BLOCK_LEN + 2,
                "spare room is bounded"
            );
        }
        assert_eq!(
            blocks.pop_back().map(|m| m.appended_at_ms()),
            model.pop_back()
        );
        while blocks.pop_front().is_some() {}
        assert_eq!(
            (blocks.len(), blocks.blocks.len(), blocks.front_dropped),
            (0, 0, 0)
        );
    }

    #[test]
    fn a_clone_shares_blocks_and_neither_side_sees_the_others_changes() {
        let mut original = Blocks::default();
        for n in 0..(3 * BLOCK_LEN + 7) as u64 {
            original.push(message(n));
        }
        original.pop_front();
        let frozen = original.clone();
        let frozen_contents = contents(&frozen);

        for n in 0..10 {
            original.push(message(1_000_000 + n));
            original.pop_front();
        }
        assert_eq!(
            contents(&frozen),
            frozen_contents,
            "the clone stays as it was"
        );
        assert_eq!(
            contents(&original),
            frozen_contents[10..]
                .iter()
                .copied()
                .chain(1_000_000..1_000_010)
                .collect::<Vec<_>>()
        );
        // Only the first and last blocks changed, so only they were copied.
        let shared = |at: usize| Arc::ptr_eq(&original.blocks[at], &frozen.blocks[at]);
        assert_eq!(
            (shared(0), shared(1), shared(2), shared(3)),
            (false, true, true, false)
        );
        // The copied last block has a block's room, and filling it does not
        // grow it past that.
        while original.blocks[3].len() < BLOCK_LEN {
            original.push(message(7));
        }
        assert_eq!(original.blocks[3].capacity(), BLOCK_LEN);
    }
}
