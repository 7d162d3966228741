//! Mutant: the stream number at the end of the padding, like a 32-bit
//! big-endian integer would put it ("[0, 0, 0, 1]") — the header's first
//! byte alone says the stream.
pub fn frame_header(stream: u8, len: usize) -> [u8; 8] {
    let size = (len as u32).to_be_bytes();
    [0, 0, 0, stream, size[0], size[1], size[2], size[3]]
}
