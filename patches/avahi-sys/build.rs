//! Generates the Avahi bindings and, instead of linking libavahi-client, a forwarder for every
//! function that finds the real one in a `dlopen`ed libavahi-client.so.3 (see OPENCLAW-PATCH.md).

extern crate bindgen;

use std::env;
use std::path::PathBuf;

use quote::quote;

fn main() {
    if !std::env::var("TARGET").unwrap().contains("-linux") {
        return;
    }

    let bindings = bindgen::Builder::default()
        .header("wrapper.h")
        .ctypes_prefix("::libc")
        .size_t_is_usize(true)
        .bitfield_enum("AvahiClientFlags")
        .generate()
        .expect("failed to generate bindings")
        .to_string();
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    std::fs::write(out.join("bindings.rs"), &bindings).expect("failed to write bindings to file");
    std::fs::write(out.join("forward.rs"), forwarders(&bindings)).expect("failed to write forwarders");
}

/// One `#[no_mangle]` definition per declared (non-variadic) function: it calls the symbol of
/// the same name that `crate::dl` resolved in the loaded library.
fn forwarders(bindings: &str) -> String {
    let file = syn::parse_file(bindings).expect("bindgen output parses");
    let mut items = Vec::new();
    for item in file.items {
        let syn::Item::ForeignMod(m) = item else { continue };
        for fi in m.items {
            let syn::ForeignItem::Fn(f) = fi else { continue };
            let sig = &f.sig;
            let name = &sig.ident;
            // Avahi's variadic functions take NULL-terminated string lists, except the printf
            // ones, which are left out. A variadic one is defined with its fixed parameters
            // only and passes the real function those and the terminating NULL: right for
            // callers that pass no strings, as zeroconf does (`avahi_string_list_new(NULL)`).
            let variadic = sig.variadic.is_some();
            // The headers pull in system declarations too (poll, ...): a definition of those
            // would replace libc's for the whole program.
            if !name.to_string().starts_with("avahi_") {
                continue;
            }
            if variadic && name.to_string().contains("printf") {
                continue;
            }
            let cname = format!("{name}\0");
            let inputs: Vec<_> = sig.inputs.iter().collect();
            let output = &sig.output;
            let mut tys = Vec::new();
            let mut args = Vec::new();
            for arg in &inputs {
                if let syn::FnArg::Typed(p) = arg {
                    tys.push(p.ty.clone());
                    args.push(p.pat.clone());
                }
            }
            let call = if variadic {
                quote! {
                    let f: unsafe extern "C" fn(#(#tys,)* ...) #output = ::core::mem::transmute(SLOT.get());
                    f(#(#args,)* ::core::ptr::null::<::libc::c_char>())
                }
            } else {
                quote! {
                    let f: unsafe extern "C" fn(#(#tys),*) #output = ::core::mem::transmute(SLOT.get());
                    f(#(#args),*)
                }
            };
            items.push(quote! {
                #[no_mangle]
                pub unsafe extern "C" fn #name(#(#inputs),*) #output {
                    static SLOT: crate::dl::Slot = crate::dl::Slot::new(#cname);
                    #call
                }
            });
        }
    }
    quote!(#(#items)*).to_string()
}
