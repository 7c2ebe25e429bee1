"""What the tools in tools/ share, one module per job.

core        paths (TOP, BUILD, CACHE, RESULTS), running commands, git,
            stopping with a clear message (Failure, main_wrapper)
report      Report: a TAP line per check, the closing line, and the JSON
            report tools/test reads (VMFF_REPORT)
deps        tools/deps.conf: what each tool needs, from which package
build       the compiler behind ccache, and ccache's environment
bases       tools/bases.conf, Debian's archive, and the base repositories
            made from its linux-source packages (tools/fetch-base)
stacks      the stacks (top level, stable/*): series files, trees, bases
provenance  where a result was measured, and the pages of
            Documentation/results/ written from results (provenance.json)
guest       a QEMU guest of a kernel tree: kernel build, initramfs, QEMU
            and its console (guest-run, guest-ways, qemu-vmclock)

Each command in tools/ is a five-line entry point that runs main() of its
module here, named after it (tools/kunit-run runs kunit_run.main(); tools/test
runs test_command.main()).  The shared modules above hold what more than one
command needs; a command's module holds only its own job.  tools/tool-test
imports these modules to test their parsers and table writers.
"""
