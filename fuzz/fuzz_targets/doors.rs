#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| evote_appliance::fuzzing::doors(data));
