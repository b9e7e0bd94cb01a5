package image

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
)

// PauseImage is the reference of the built-in sandbox (pause) image. The
// registry host corral.invalid can never resolve, so the image can only come
// from EnsurePause, never from a pull.
const PauseImage = "corral.invalid/pause:1"

// PauseBinaryPath is where the pause program lives inside PauseImage.
const PauseBinaryPath = "/pause"

// Linux x86-64 constants used by the pause program.
const (
	sysRtSigaction = 13
	sysRtSigreturn = 15
	sysPause       = 34
	sysExitGroup   = 231

	sigINT  = 2
	sigTERM = 15
	sigCHLD = 17

	sigIgn        = 1          // SIG_IGN
	saNoCldWait   = 0x00000002 // SA_NOCLDWAIT: children never become zombies
	saRestorer    = 0x04000000 // SA_RESTORER: x86-64 refuses to deliver without it
	sigsetSize    = 8          // sizeof(kernel sigset_t) on x86-64
	loadAddress   = 0x400000   // fixed (non-PIE) load address of the one segment
	elfHdrSize    = 64
	progHdrSize   = 56
	numProgHdrs   = 2 // PT_LOAD and PT_GNU_STACK
	codeOffset    = elfHdrSize + numProgHdrs*progHdrSize
	kSigactSize   = 32 // struct sigaction: handler, flags, restorer, mask (8 bytes each)
	pageAlign     = 0x1000
	ptLoad        = 1
	ptGnuStack    = 0x6474e551
	pfX, pfW, pfR = 1, 2, 4
)

// PauseBinary returns the pause program: a static x86-64 Linux ELF of a few
// hundred bytes. It exits 0 on SIGINT or SIGTERM, lets the kernel reap its
// children (SIGCHLD ignored with SA_NOCLDWAIT, so orphans reparented to it in
// a shared PID namespace never stay zombies), and otherwise sleeps in pause().
func PauseBinary() ([]byte, error) {
	if runtime.GOARCH != "amd64" {
		return nil, fmt.Errorf("the built-in pause image exists only for amd64, not %s", runtime.GOARCH)
	}
	return pauseELF(), nil
}

// pauseELF assembles the program. The kernel's x86-64 struct sigaction is
// {sa_handler, sa_flags, sa_restorer, sa_mask} (8 bytes each) and
// rt_sigaction takes sigsetsize 8. x86-64 needs SA_RESTORER with a
// restorer address to build a signal frame at all (without it the process
// gets SIGSEGV), so a real rt_sigreturn stub is provided even though the
// exit handler never returns.
func pauseELF() []byte {
	var a asm
	// _start: rt_sigaction(SIGTERM, &actExit, NULL, 8)
	a.label("start")
	a.movEDI(sigTERM)            // mov edi, 15 ; signum = SIGTERM
	a.movESIAddr("actExit")      // mov esi, actExit ; act (fits in 32 bits: non-PIE)
	a.op(0x31, 0xd2)             // xor edx, edx ; oldact = NULL
	a.op(0x41, 0xba, 8, 0, 0, 0) // mov r10d, 8 ; sigsetsize
	a.movEAX(sysRtSigaction)     // mov eax, 13 ; rt_sigaction
	a.op(0x0f, 0x05)             // syscall ; clobbers rax, rcx, r11 only
	a.op(0x85, 0xc0)             // test eax, eax ; 0 or -errno
	a.jnz("fail")                // jnz fail
	// rt_sigaction(SIGINT, &actExit, NULL, 8): rsi, rdx, r10 still hold the arguments.
	a.movEDI(sigINT)         // mov edi, 2 ; signum = SIGINT
	a.movEAX(sysRtSigaction) // mov eax, 13 ; rt_sigaction
	a.op(0x0f, 0x05)         // syscall
	a.op(0x85, 0xc0)         // test eax, eax
	a.jnz("fail")            // jnz fail
	// rt_sigaction(SIGCHLD, &actChld, NULL, 8)
	a.movEDI(sigCHLD)        // mov edi, 17 ; signum = SIGCHLD
	a.movESIAddr("actChld")  // mov esi, actChld
	a.movEAX(sysRtSigaction) // mov eax, 13 ; rt_sigaction
	a.op(0x0f, 0x05)         // syscall
	a.op(0x85, 0xc0)         // test eax, eax
	a.jnz("fail")            // jnz fail
	// loop: pause() until a signal ends the process.
	a.label("loop")
	a.movEAX(sysPause) // mov eax, 34 ; pause
	a.op(0x0f, 0x05)   // syscall ; returns -EINTR after a handled signal
	a.jmp("loop")      // jmp loop
	// fail: exit_group(1) when a handler could not be installed.
	a.label("fail")
	a.movEDI(1)            // mov edi, 1 ; status 1
	a.movEAX(sysExitGroup) // mov eax, 231 ; exit_group
	a.op(0x0f, 0x05)       // syscall
	// onExit: the SIGINT/SIGTERM handler, exit_group(0).
	a.label("onExit")
	a.op(0x31, 0xff)       // xor edi, edi ; status 0
	a.movEAX(sysExitGroup) // mov eax, 231 ; exit_group
	a.op(0x0f, 0x05)       // syscall
	// restorer: rt_sigreturn(), the return path SA_RESTORER points at.
	a.label("restorer")
	a.movEAX(sysRtSigreturn) // mov eax, 15 ; rt_sigreturn
	a.op(0x0f, 0x05)         // syscall
	a.align(8)
	// actExit: struct sigaction{onExit, SA_RESTORER, restorer, mask 0}
	a.label("actExit")
	a.quadAddr("onExit")
	a.quad(saRestorer)
	a.quadAddr("restorer")
	a.quad(0)
	// actChld: struct sigaction{SIG_IGN, SA_NOCLDWAIT|SA_RESTORER, restorer, mask 0}
	a.label("actChld")
	a.quad(sigIgn)
	a.quad(saNoCldWait | saRestorer)
	a.quadAddr("restorer")
	a.quad(0)
	code := a.link(loadAddress + codeOffset)

	size := uint64(codeOffset + len(code))
	var b bytes.Buffer
	le := binary.LittleEndian
	// ELF64 header.
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2 /*64-bit*/, 1 /*little endian*/, 1 /*version*/, 0 /*SysV ABI*/})
	b.Write(make([]byte, 8)) // e_ident padding
	w := func(v any) { _ = binary.Write(&b, le, v) }
	w(uint16(2))                                            // e_type: ET_EXEC
	w(uint16(62))                                           // e_machine: EM_X86_64
	w(uint32(1))                                            // e_version
	w(uint64(loadAddress + codeOffset + a.labels["start"])) // e_entry
	w(uint64(elfHdrSize))                                   // e_phoff
	w(uint64(0))                                            // e_shoff: no sections
	w(uint32(0))                                            // e_flags
	w(uint16(elfHdrSize))                                   // e_ehsize
	w(uint16(progHdrSize))                                  // e_phentsize
	w(uint16(numProgHdrs))                                  // e_phnum
	w(uint16(64))                                           // e_shentsize
	w(uint16(0))                                            // e_shnum
	w(uint16(0))                                            // e_shstrndx
	// PT_LOAD: the whole file, read+execute, at loadAddress.
	w(uint32(ptLoad))
	w(uint32(pfR | pfX))
	w(uint64(0))           // p_offset
	w(uint64(loadAddress)) // p_vaddr
	w(uint64(loadAddress)) // p_paddr
	w(size)                // p_filesz
	w(size)                // p_memsz
	w(uint64(pageAlign))   // p_align
	// PT_GNU_STACK: non-executable stack.
	w(uint32(ptGnuStack))
	w(uint32(pfR | pfW))
	for i := 0; i < 6; i++ {
		w(uint64(0))
	}
	b.Write(code)
	return b.Bytes()
}

// asm is the tiny assembler behind pauseELF: it emits fixed-size
// encodings and patches label references (rel8 jumps, absolute addresses)
// in link.
type asm struct {
	buf    []byte
	labels map[string]int
	fixups []fixup
}

type fixup struct {
	at    int
	label string
	kind  int // fixRel8, fixAbs32 or fixAbs64
}

const (
	fixRel8 = iota
	fixAbs32
	fixAbs64
)

func (a *asm) label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[name] = len(a.buf)
}

func (a *asm) op(b ...byte) { a.buf = append(a.buf, b...) }

func (a *asm) imm32(v uint32) { a.buf = binary.LittleEndian.AppendUint32(a.buf, v) }

func (a *asm) movEAX(v uint32) { a.op(0xb8); a.imm32(v) } // B8 id: mov eax, imm32
func (a *asm) movEDI(v uint32) { a.op(0xbf); a.imm32(v) } // BF id: mov edi, imm32

// movESIAddr emits BE id: mov esi, imm32 with the absolute address of label.
func (a *asm) movESIAddr(label string) {
	a.op(0xbe)
	a.fixups = append(a.fixups, fixup{len(a.buf), label, fixAbs32})
	a.imm32(0)
}

func (a *asm) jnz(label string) {
	a.op(0x75, 0)
	a.fixups = append(a.fixups, fixup{len(a.buf) - 1, label, fixRel8})
}
func (a *asm) jmp(label string) {
	a.op(0xeb, 0)
	a.fixups = append(a.fixups, fixup{len(a.buf) - 1, label, fixRel8})
}

func (a *asm) quad(v uint64) { a.buf = binary.LittleEndian.AppendUint64(a.buf, v) }

func (a *asm) quadAddr(label string) {
	a.fixups = append(a.fixups, fixup{len(a.buf), label, fixAbs64})
	a.quad(0)
}

func (a *asm) align(n int) {
	for len(a.buf)%n != 0 {
		a.op(0xcc) // int3, never executed
	}
}

// link resolves the fixups for code loaded at base and returns the bytes.
func (a *asm) link(base uint64) []byte {
	for _, f := range a.fixups {
		target, ok := a.labels[f.label]
		if !ok {
			panic("pause: undefined label " + f.label)
		}
		switch f.kind {
		case fixRel8:
			rel := target - (f.at + 1)
			if rel < -128 || rel > 127 {
				panic("pause: jump out of rel8 range to " + f.label)
			}
			a.buf[f.at] = byte(int8(rel))
		case fixAbs32:
			binary.LittleEndian.PutUint32(a.buf[f.at:], uint32(base+uint64(target)))
		case fixAbs64:
			binary.LittleEndian.PutUint64(a.buf[f.at:], base+uint64(target))
		}
	}
	return a.buf
}
