//! A table indexed by fd number that costs memory only where fds are.
//!
//! Fd numbers are small and dense in most programs, but a process that
//! holds many other fds (guest memory files, sockets of other parts of a
//! VMM) hands the manager high numbers. A flat `Vec` indexed by fd would
//! then cost 16 bytes for every number below the highest one registered.
//! This table keeps pages of 128 slots, made on first use, behind a
//! directory with one pointer per 128 numbers: a lookup is two indexed
//! loads, and memory follows the fds that are registered: a page whose
//! last fd goes is freed again (by the registry, between batches).

use std::collections::TryReserveError;

const PAGE_BITS: u32 = 7;
const PAGE_LEN: usize = 1 << PAGE_BITS;

/// The room for emptied pages' numbers kept between releases.
const EMPTIED_KEPT: usize = 64;

type Page<T> = Box<[T; PAGE_LEN]>;

pub(crate) struct FdTable<T> {
    pages: Vec<Option<Page<T>>>,
    /// By page: how many of its slots are in use, as the owner counts them
    /// with `occupy` and `vacate`.
    in_use: Vec<u16>,
    /// Pages whose count went to 0 since the last `release_empty_pages`.
    emptied: Vec<usize>,
    /// The directory holds more than twice the room its pages need, and
    /// giving the rest back is left to the next page made (see
    /// `release_emptied`).
    shrink_pending: bool,
}

impl<T: Default> FdTable<T> {
    pub(crate) fn new() -> Self {
        FdTable {
            pages: Vec::new(),
            in_use: Vec::new(),
            emptied: Vec::new(),
            shrink_pending: false,
        }
    }

    /// Counts the slot at `index` (which exists) as in use.
    pub(crate) fn occupy(&mut self, index: usize) {
        if let Some(count) = self.in_use.get_mut(index >> PAGE_BITS) {
            *count += 1;
        }
    }

    /// Counts the slot at `index` as free again; a page whose last slot is
    /// freed is noted for `release_empty_pages`.
    pub(crate) fn vacate(&mut self, index: usize) {
        let page = index >> PAGE_BITS;
        if let Some(count) = self.in_use.get_mut(page) {
            *count = count.saturating_sub(1);
            // Noted once however often it empties before the next
            // release (a subscriber added and removed in a loop).
            if *count == 0 && !self.emptied.contains(&page) {
                self.emptied.push(page);
            }
        }
    }

    /// Frees the pages that no slot is in use in, and the directory's tail
    /// past the last page left. Their slots' contents are forgotten: a page
    /// made again starts from `T::default()`.
    #[inline]
    pub(crate) fn release_empty_pages(&mut self) {
        if !self.emptied.is_empty() {
            self.release_emptied();
        }
    }

    /// Frees memory without allocating, as `run` calls it: the emptied
    /// pages, the directory's tail past the last page left, and the
    /// directory itself when no page is left. Shrinking a directory that
    /// still holds pages would move it (a reallocation), so that is left
    /// to the next registration that makes a page, which allocates
    /// anyway.
    #[cold]
    #[inline(never)]
    fn release_emptied(&mut self) {
        for &page in &self.emptied {
            if self.in_use.get(page) == Some(&0) {
                if let Some(slot) = self.pages.get_mut(page) {
                    *slot = None;
                }
            }
        }
        self.emptied.clear();
        if self.emptied.capacity() > EMPTIED_KEPT {
            self.emptied = Vec::new();
        }
        while self.pages.last().is_some_and(Option::is_none) {
            self.pages.pop();
            self.in_use.pop();
        }
        if self.pages.is_empty() {
            // Nothing registered: the table keeps no memory at all.
            self.pages = Vec::new();
            self.in_use = Vec::new();
            self.emptied = Vec::new();
            self.shrink_pending = false;
        } else if self.pages.capacity() > 2 * self.pages.len() {
            self.shrink_pending = true;
        }
    }

    /// How many pages exist.
    #[cfg(test)]
    pub(crate) fn page_count(&self) -> usize {
        self.pages.iter().filter(|page| page.is_some()).count()
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
        // Only when this call makes a page (and so allocates anyway): a
        // registration on an existing page allocates nothing, and may be
        // made inside a run.
        let makes_page = self.pages.get(page_index).map_or(true, Option::is_none);
        if self.shrink_pending && makes_page {
            self.shrink_pending = false;
            self.shrink_directory(page_index + 1);
        }
        if page_index >= self.pages.len() {
            let more = page_index + 1 - self.pages.len();
            self.pages.try_reserve(more)?;
            self.in_use.try_reserve(more)?;
            self.pages.resize_with(page_index + 1, || None);
            self.in_use.resize(page_index + 1, 0);
        }
        let page = match &mut self.pages[page_index] {
            Some(page) => page,
            vacant => vacant.insert(new_page()?),
        };
        Ok(&mut page[index & (PAGE_LEN - 1)])
    }
}

impl<T> FdTable<T> {
    /// Gives back the directory's room beyond what `len` pages (and the
    /// pages it has) need.
    #[cold]
    fn shrink_directory(&mut self, len: usize) {
        let keep = len.max(self.pages.len());
        self.pages.shrink_to(keep);
        self.in_use.shrink_to(keep);
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

    #[test]
    fn a_release_only_frees_and_the_next_page_made_shrinks_the_directory() {
        let mut table = FdTable::<u32>::new();
        table.get_or_insert(1).unwrap();
        table.occupy(1);
        table.get_or_insert(40 * PAGE_LEN).unwrap();
        table.occupy(40 * PAGE_LEN);
        let room = table.pages.capacity();
        assert!(room >= 41);

        table.vacate(40 * PAGE_LEN);
        table.release_empty_pages();
        // The high page is gone and the directory's tail with it, but the
        // directory kept its room: shrinking it would reallocate.
        assert_eq!(table.pages.len(), 1);
        assert_eq!(table.pages.capacity(), room);
        assert_eq!(table.get(40 * PAGE_LEN), None);

        table.get_or_insert(2 * PAGE_LEN).unwrap();
        assert_eq!(table.pages.len(), 3);
        assert!(table.pages.capacity() < room, "{}", table.pages.capacity());

        // With no page left, the directory goes entirely.
        table.occupy(2 * PAGE_LEN);
        table.vacate(2 * PAGE_LEN);
        table.vacate(1);
        table.release_empty_pages();
        assert_eq!(
            (
                table.pages.capacity(),
                table.in_use.capacity(),
                table.emptied.capacity()
            ),
            (0, 0, 0)
        );
    }
}
