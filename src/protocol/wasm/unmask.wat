;; Unmasking with 128-bit SIMD (RFC 6455 §5.3), for src/protocol/simd-mask.ts. The bytes are embedded in
;; src/protocol/wasm/unmask-module.ts; after editing this file run `npm run build:wasm`
;; (unmask-module.test.ts fails while the two disagree).
;;
;; The caller copies bytes into memory at offset 0, calls one function, and copies the result back.
;; Memory is two pages (128 KiB) and never grows, so views of it stay valid.
(module
  (memory (export "memory") 2 2)

  ;; XORs memory[ptr, ptr + len) in place with the masking key `key`, a little-endian word whose low byte is
  ;; the key byte for memory[ptr]. Returns 1 when every resulting byte is below 0x80 (ASCII, hence valid
  ;; UTF-8), else 0.
  (func $unmask (export "unmask") (param $ptr i32) (param $len i32) (param $key i32) (result i32)
    (local $end i32) (local $last16 i32) (local $k v128) (local $v v128) (local $seen v128)
    (local $byte i32) (local $high i32)
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (local.set $k (i32x4.splat (local.get $key)))
    ;; 16 bytes at a time while 16 remain; each step starts at a multiple of 16 from ptr, so the key lines up.
    (local.set $last16 (i32.sub (local.get $end) (i32.const 16)))
    (block $words_done
      (loop $words
        (br_if $words_done (i32.gt_s (local.get $ptr) (local.get $last16)))
        (local.set $v (v128.xor (v128.load (local.get $ptr)) (local.get $k)))
        (v128.store (local.get $ptr) (local.get $v))
        (local.set $seen (v128.or (local.get $seen) (local.get $v)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 16)))
        (br $words)))
    ;; Bit i set when byte i of some vector had its high bit set.
    (local.set $high (i8x16.bitmask (local.get $seen)))
    ;; The last 0..15 bytes one at a time, the key rotated a byte each step.
    (block $bytes_done
      (loop $bytes
        (br_if $bytes_done (i32.ge_u (local.get $ptr) (local.get $end)))
        (local.set $byte (i32.and (i32.xor (i32.load8_u (local.get $ptr)) (local.get $key)) (i32.const 0xff)))
        (i32.store8 (local.get $ptr) (local.get $byte))
        (local.set $high (i32.or (local.get $high) (i32.and (local.get $byte) (i32.const 0x80))))
        (local.set $key (i32.rotr (local.get $key) (i32.const 8)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (br $bytes)))
    (i32.eqz (local.get $high)))

  ;; Walks the frames in memory[0, len) from offset 0 and unmasks the payload of each one that is whole, FIN,
  ;; Text or Binary with RSV1-3 clear, masked, with a 7- or 16-bit length of at most maxLength: the frames a
  ;; server's parser takes in one step. Stops at the first frame that is anything else or does not end within
  ;; len, and returns where it stopped: [0, result) holds whole frames, all unmasked. Each such frame's masking
  ;; key is spent, so its first key byte is overwritten with unmask's result (1: the payload is ASCII).
  (func (export "unmaskFrames") (param $len i32) (param $maxLength i32) (result i32)
    (local $pos i32) (local $b0 i32) (local $b1 i32) (local $length i32) (local $keyAt i32) (local $frameEnd i32)
    (block $stop
      (loop $frame
        (br_if $stop (i32.lt_u (i32.sub (local.get $len) (local.get $pos)) (i32.const 2)))
        (local.set $b0 (i32.load8_u (local.get $pos)))
        (br_if $stop (i32.and (i32.ne (local.get $b0) (i32.const 0x81)) (i32.ne (local.get $b0) (i32.const 0x82))))
        (local.set $b1 (i32.load8_u offset=1 (local.get $pos)))
        (br_if $stop (i32.eqz (i32.and (local.get $b1) (i32.const 0x80))))
        (local.set $length (i32.and (local.get $b1) (i32.const 0x7f)))
        ;; A 64-bit length: left to the general parser.
        (br_if $stop (i32.eq (local.get $length) (i32.const 127)))
        (local.set $keyAt (i32.add (local.get $pos) (i32.const 2)))
        (if (i32.eq (local.get $length) (i32.const 126))
          (then
            (br_if $stop (i32.lt_u (i32.sub (local.get $len) (local.get $pos)) (i32.const 4)))
            (local.set $length
              (i32.or (i32.shl (i32.load8_u offset=2 (local.get $pos)) (i32.const 8)) (i32.load8_u offset=3 (local.get $pos))))
            (local.set $keyAt (i32.add (local.get $pos) (i32.const 4)))))
        (br_if $stop (i32.gt_u (local.get $length) (local.get $maxLength)))
        (local.set $frameEnd (i32.add (i32.add (local.get $keyAt) (i32.const 4)) (local.get $length)))
        (br_if $stop (i32.gt_u (local.get $frameEnd) (local.get $len)))
        (i32.store8 (local.get $keyAt)
          (call $unmask (i32.add (local.get $keyAt) (i32.const 4)) (local.get $length) (i32.load (local.get $keyAt))))
        (local.set $pos (local.get $frameEnd))
        (br $frame)))
    (local.get $pos)))
