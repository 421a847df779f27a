//! The `impl` lines of the generated code: the trait impl and the inherent
//! impl of the generated methods share the same generics and where-clause.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::valid::Plan;

/// `impl<...> Trait for Struct<...> where ...` (with `trait_path`) or
/// `impl<...> Struct<...> where ...` (without): the struct's generics and
/// where-clause plus `bound`; or with `for`, the one instantiation, whose
/// generics are the struct's parameters it leaves free (with the struct's
/// bounds on them), and whose where-clause adds `bound`.
pub(crate) fn impl_header(
    input: &DeriveInput,
    trait_path: Option<&TokenStream>,
    plan: &Plan,
) -> TokenStream {
    let bound = &plan.bound;
    let trait_for = trait_path.map(|path| quote!(#path for));
    let mut generics = match &plan.instance {
        Some(_) => plan.free.clone(),
        None => input.generics.clone(),
    };
    if !bound.is_empty() {
        generics
            .make_where_clause()
            .predicates
            .extend(bound.iter().cloned());
    }
    let (impl_generics, type_generics, where_clause) = generics.split_for_impl();
    match &plan.instance {
        Some(instance) => quote!(impl #impl_generics #trait_for #instance #where_clause),
        None => {
            let ident = &input.ident;
            quote!(impl #impl_generics #trait_for #ident #type_generics #where_clause)
        }
    }
}
