//! A table indexed by fd number that costs memory only where fds are.
//!
//! Fd numbers are small and dense in most programs, but a process that
//! holds many other fds (guest memory files, sockets of other parts of a
//! VMM) hands the manager high numbers. A flat `Vec` indexed by fd would
//! then cost 16 bytes for every number below the highest one registered.
//! This table keeps pages of 128 slots, made on first use, behind a
//! directory with one pointer per 128 numbers: a lookup is two indexed
//! loads, and memory follows the fds that were registered.

use std::collections::TryReserveError;

const PAGE_BITS: u32 = 7;
const PAGE_LEN: usize = 1 << PAGE_BITS;

type Page<T> = Box<[T; PAGE_LEN]>;

pub(crate) struct FdTable<T> {
    pages: Vec<Option<Page<T>>>,
}

impl<T: Default> FdTable<T> {
    pub(crate) fn new() -> Self {
        FdTable { pages: Vec::new() }
    }

    /// Whether no page was ever made.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    #[inline]
    pub(crate) fn get(&self, index: usize) -> Option<&T> {
        let page = self.pages.get(index >> PAGE_BITS)?.as_deref()?;
        Some(&page[index & (PAGE_LEN - 1)])
    }

    pub(crate) fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        let page = self.pages.get_mut(index >> PAGE_BITS)?.as_deref_mut()?;
        Some(&mut page[index & (PAGE_LEN - 1)])
    }

    /// The slot at `index`, making its page first if needed. Fails, rather
    /// than aborting, when the allocator cannot provide the page.
    pub(crate) fn get_or_insert(&mut self, index: usize) -> Result<&mut T, TryReserveError> {
        let page_index = index >> PAGE_BITS;
        if page_index >= self.pages.len() {
            self.pages.try_reserve(page_index + 1 - self.pages.len())?;
            self.pages.resize_with(page_index + 1, || None);
        }
        let page = match &mut self.pages[page_index] {
            Some(page) => page,
            vacant => vacant.insert(new_page()?),
        };
        Ok(&mut page[index & (PAGE_LEN - 1)])
    }
}

fn new_page<T: Default>() -> Result<Page<T>, TryReserveError> {
    let mut slots = Vec::new();
    slots.try_reserve_exact(PAGE_LEN)?;
    slots.resize_with(PAGE_LEN, T::default);
    // The length is PAGE_LEN, so the conversion cannot fail.
    Ok(slots
        .into_boxed_slice()
        .try_into()
        .unwrap_or_else(|_| unreachable!("a page holds PAGE_LEN slots")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_exist_only_in_pages_that_were_inserted_into() {
        let mut table = FdTable::<u32>::new();
        assert_eq!(table.get(5), None);
        *table.get_or_insert(10_000).unwrap() = 7;
        assert_eq!(table.get(10_000), Some(&7));
        // The rest of that page is there, vacant; other pages are not.
        assert_eq!(table.get(10_001), Some(&0));
        assert_eq!(table.get(5), None);
        assert_eq!(table.get(20_000), None);
        assert_eq!(table.pages.iter().filter(|page| page.is_some()).count(), 1);
        *table.get_mut(10_001).unwrap() = 3;
        assert_eq!(table.get(10_001), Some(&3));
        assert_eq!(table.get_mut(5), None);
    }

    #[test]
    fn a_page_boundary_splits_neighbouring_numbers() {
        let mut table = FdTable::<u32>::new();
        *table.get_or_insert(PAGE_LEN - 1).unwrap() = 1;
        *table.get_or_insert(PAGE_LEN).unwrap() = 2;
        assert_eq!(
            (table.get(PAGE_LEN - 1), table.get(PAGE_LEN)),
            (Some(&1), Some(&2))
        );
        assert_eq!(table.pages.len(), 2);
    }
}
