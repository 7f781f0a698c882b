# Runs at install time (install(CODE) in systemd/CMakeLists.txt), when CMAKE_INSTALL_PREFIX is the
# prefix this install was given. Writes the unit from WARMPOOL_UNIT_TEMPLATE into
# WARMPOOL_UNIT_DESTINATION with @WARMPOOLD@ set to the installed warmpoold, and records it in
# install_manifest.txt as file(INSTALL) would.
#
# DESTDIR is only where files are staged (a package build, a chroot), never where they run, so
# the path in the unit leaves it out while the file is written under it.
if(IS_ABSOLUTE "${WARMPOOL_UNIT_BINDIR}")
    set(WARMPOOLD "${WARMPOOL_UNIT_BINDIR}/warmpoold")
else()
    set(WARMPOOLD "${CMAKE_INSTALL_PREFIX}/${WARMPOOL_UNIT_BINDIR}/warmpoold")
endif()
set(unit "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/${WARMPOOL_UNIT_DESTINATION}/warmpoold@.service")
message(STATUS "Installing: ${unit}")
configure_file("${WARMPOOL_UNIT_TEMPLATE}" "${unit}" @ONLY)
list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${unit}")
