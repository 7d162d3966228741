//! Mutant: the frame's length in the machine's byte order — "it's a u32,
//! to_ne_bytes will do". x86 is little-endian; docker reads big-endian: the
//! CLI then waits for 16 MiB that never come.
pub fn frame_header(stream: u8, len: usize) -> [u8; 8] {
    let size = (len as u32).to_le_bytes();
    [stream, 0, 0, 0, size[0], size[1], size[2], size[3]]
}
