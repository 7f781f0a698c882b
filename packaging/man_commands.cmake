# Build-time helper: the include file help2man reads for warmpool(1), made of STATIC (the
# hand-written sections) and a COMMANDS section holding `PROGRAM SUBCOMMAND --help` for each
# subcommand `PROGRAM --help` lists, so the page shows every subcommand's own options exactly as
# its --help does.
#   cmake -DPROGRAM=... -DSTATIC=... -DOUT=... -P man_commands.cmake
function(help_of out)
    execute_process(COMMAND "${PROGRAM}" ${ARGN} --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "${PROGRAM} ${ARGN} --help exited ${rc}")
    endif()
    set(${out} "${help}" PARENT_SCOPE)
endfunction()

help_of(main_help)
string(REGEX REPLACE ".*\nSubcommands:\n" "" listed "${main_help}")
string(REGEX MATCHALL "(^|\n)  [a-z][a-z-]*" subcommands "${listed}")
if(NOT subcommands)
    message(FATAL_ERROR "${PROGRAM} --help lists no subcommands")
endif()

file(READ "${STATIC}" text)
string(APPEND text "\n[COMMANDS]\n")
foreach(sub IN LISTS subcommands)
    string(STRIP "${sub}" sub)
    help_of(help ${sub})
    # As roff: backslashes escaped, no line read as a request, kept as laid out.
    string(REPLACE "\\" "\\e" help "${help}")
    string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" help "${help}")
    string(APPEND text ".SS \"warmpool ${sub}\"\n.nf\n${help}.fi\n")
endforeach()
file(WRITE "${OUT}" "${text}")
