//! mini-docker: containers from scratch, one chapter at a time.
//!
//! This binary is the part you rebuild: your `exercises/`, the reference
//! `solutions/`, and the wiring below that hands them to the runtime
//! (`core/`, the `mini_docker` crate). `cargo build` after an edit compiles
//! just this package, so the check can run a second later.

use mini_docker::selection::Selection;
use mini_docker::workshop::Steps;

/// For each row of the chapter table (`core/src/workshop.rs`): declare its
/// exercise and solution modules, and pick one of the two per chapter.
macro_rules! wire_chapters {
    ($(
        chapter $number:literal $module:ident {
            about: $about:tt,
            steps: { $(fn $step:ident $(<$lt:lifetime>)? ($($arg:ident : $ty:ty),*) -> $ret:ty;)* },
            checks: $checks:ident,
        }
    )*) => {
        /// Your files, compiled as they are (todo!()s and all).
        #[allow(unused_imports, unused_variables, unreachable_code, dead_code)]
        #[path = "../exercises"]
        mod exercises {
            $(pub mod $module;)*
        }

        /// The reference solutions: the same files, complete.
        #[path = "../solutions"]
        mod solutions {
            $(pub mod $module;)*
        }

        /// Chapter by chapter: the reference if `selection` asks for it, else yours.
        fn steps_for(selection: Selection) -> Steps {
            mutants::apply(Steps {
                selection,
                $($module: if selection.is_reference($number) {
                    mini_docker::workshop::$module::Steps { $($step: solutions::$module::$step,)* }
                } else {
                    mini_docker::workshop::$module::Steps { $($step: exercises::$module::$step,)* }
                },)*
            })
        }
    };
}

/// TEST ONLY (tests/mutants.rs): wrong answers the checks must catch, one of
/// them swapped in when MINI_DOCKER_MUTANT names it; otherwise nothing changes.
#[path = "../core/src/checks/mutants/mod.rs"]
mod mutants;

mini_docker::chapter_table!(wire_chapters);

fn main() -> std::process::ExitCode {
    mini_docker::cli::main(steps_for)
}
