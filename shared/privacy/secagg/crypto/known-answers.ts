/**
 * Published known-answer vectors: the self-test a native implementation must pass before it is used
 * (select.ts) and the tests of every implementation (primitives.test.ts).
 */
const hex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
export { hex as hexBytes };

/** RFC 7748 §6.1. */
export const X25519_VECTOR = {
  aliceSecret: hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'),
  alicePublic: hex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a'),
  bobSecret: hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'),
  bobPublic: hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f'),
  shared: hex('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742'),
};

/** RFC 8439 A.1 test vector #1: all-zero key and nonce, block counter 0. */
export const CHACHA20_VECTOR = {
  key: new Uint8Array(32),
  nonce: new Uint8Array(12),
  keystream: hex(
    '76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7' +
      'da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586',
  ),
};

/** RFC 8439 §2.8.2 (AEAD_CHACHA20_POLY1305): ciphertext ‖ tag. */
export const AEAD_VECTOR = {
  key: Uint8Array.from({ length: 32 }, (_, i) => 0x80 + i),
  nonce: hex('070000004041424344454647'),
  aad: hex('50515253c0c1c2c3c4c5c6c7'),
  plaintext: new TextEncoder().encode(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  ),
  sealed: hex(
    'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6' +
      '3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36' +
      '92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
      '3ff4def08e4b7a9de576d26586cec64b6116' +
      '1ae10b594f09e26a7e902ecbd0600691',
  ),
};

/** RFC 5869 A.1 (HKDF-SHA256, basic case). */
export const HKDF_VECTOR = {
  ikm: new Uint8Array(22).fill(0x0b),
  salt: hex('000102030405060708090a0b0c'),
  info: hex('f0f1f2f3f4f5f6f7f8f9'),
  okm: hex('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865'),
};
