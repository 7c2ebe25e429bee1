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

The commands in tools/ import from here; each keeps only its own job.
"""
