//! A minimal writer for flattened device trees (the DTB format, version 17).

use core::fmt::{self, Write};

const MAGIC: u32 = 0xd00d_feed;
const VERSION: u32 = 17;
const LAST_COMPATIBLE_VERSION: u32 = 16;

const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const END: u32 = 9;

const HEADER_LEN: usize = 40;
/// The memory reservation block holds only its terminating all-zero entry.
const RESERVATION_LEN: usize = 16;
const STRUCTURE_OFFSET: usize = HEADER_LEN + RESERVATION_LEN;
const STRINGS_CAPACITY: usize = 256;

/// Writes a device tree into a caller's buffer, nodes and properties in order.
/// Panics when the buffer is too small.
pub struct FdtWriter<'a> {
    buffer: &'a mut [u8],
    /// End of the structure block written so far.
    len: usize,
    /// The property names, NUL-terminated, appended after the structure block at the end.
    strings: [u8; STRINGS_CAPACITY],
    strings_len: usize,
}

impl<'a> FdtWriter<'a> {
    pub fn new(buffer: &'a mut [u8]) -> Self {
        buffer[..STRUCTURE_OFFSET].fill(0);
        Self {
            buffer,
            len: STRUCTURE_OFFSET,
            strings: [0; STRINGS_CAPACITY],
            strings_len: 0,
        }
    }

    /// Opens a node; the root node's name is empty.
    pub fn begin_node(&mut self, name: fmt::Arguments<'_>) {
        self.push_u32(BEGIN_NODE);
        self.write_fmt(name).unwrap();
        self.push(&[0]);
        self.pad();
    }

    pub fn end_node(&mut self) {
        self.push_u32(END_NODE);
    }

    pub fn property_u32(&mut self, name: &str, value: u32) {
        self.property(name, &[&value.to_be_bytes()]);
    }

    pub fn property_str(&mut self, name: &str, value: &str) {
        self.property(name, &[value.as_bytes(), &[0]]);
    }

    /// A `reg` property of one region, for `#address-cells` = `#size-cells` = 2.
    pub fn property_reg(&mut self, address: u64, size: u64) {
        self.property("reg", &[&address.to_be_bytes(), &size.to_be_bytes()]);
    }

    /// Ends the tree and returns it, header included.
    pub fn finish(mut self) -> &'a [u8] {
        self.push_u32(END);
        let structure_len = self.len - STRUCTURE_OFFSET;
        let strings_offset = self.len;
        let strings = self.strings;
        self.push(&strings[..self.strings_len]);
        let total_len = self.len;

        let header = [
            MAGIC,
            total_len as u32,
            STRUCTURE_OFFSET as u32,
            strings_offset as u32,
            HEADER_LEN as u32, // memory reservation block offset
            VERSION,
            LAST_COMPATIBLE_VERSION,
            0, // boot CPU
            self.strings_len as u32,
            structure_len as u32,
        ];
        for (field, value) in self.buffer.chunks_exact_mut(4).zip(header) {
            field.copy_from_slice(&value.to_be_bytes());
        }
        &self.buffer[..total_len]
    }

    /// Writes one property whose value is the concatenation of `parts`.
    fn property(&mut self, name: &str, parts: &[&[u8]]) {
        let name_offset = self.string_offset(name);
        let len: usize = parts.iter().map(|part| part.len()).sum();
        self.push_u32(PROP);
        self.push_u32(len as u32);
        self.push_u32(name_offset);
        for part in parts {
            self.push(part);
        }
        self.pad();
    }

    /// The offset of `name` in the strings block, added on first use.
    fn string_offset(&mut self, name: &str) -> u32 {
        let mut offset = 0;
        for existing in self.strings[..self.strings_len].split(|&byte| byte == 0) {
            if existing == name.as_bytes() {
                return offset as u32;
            }
            offset += existing.len() + 1;
        }
        let start = self.strings_len;
        let end = start + name.len() + 1;
        let slot = self
            .strings
            .get_mut(start..end)
            .expect("device tree strings block is full");
        slot[..name.len()].copy_from_slice(name.as_bytes());
        slot[name.len()] = 0;
        self.strings_len = end;
        start as u32
    }

    fn push(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        let slot = self
            .buffer
            .get_mut(self.len..end)
            .expect("device tree buffer is too small");
        slot.copy_from_slice(bytes);
        self.len = end;
    }

    fn push_u32(&mut self, value: u32) {
        self.push(&value.to_be_bytes());
    }

    /// Pads the structure block to the next 4-byte boundary.
    fn pad(&mut self) {
        let padding = self.len.next_multiple_of(4) - self.len;
        self.push(&[0; 3][..padding]);
    }
}

/// Lets node names be formatted straight into the structure block.
impl Write for FdtWriter<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.push(text.as_bytes());
        Ok(())
    }
}
