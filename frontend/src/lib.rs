//! The browser bundle of the dashboard: nothing but `hydrate()`. All components live in
//! `recoscope-app`.

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    recoscope_app::hydrate();
}
