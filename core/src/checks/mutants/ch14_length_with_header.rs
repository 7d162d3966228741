//! Mutant: the length counts the header too ("the frame is 8 + n bytes").
//! The reader then swallows the next frame's header as payload.
pub fn frame_header(stream: u8, len: usize) -> [u8; 8] {
    let size = (len as u32 + 8).to_be_bytes();
    [stream, 0, 0, 0, size[0], size[1], size[2], size[3]]
}
