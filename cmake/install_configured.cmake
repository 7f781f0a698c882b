# Runs at install time (warmpool_install_configured() in cmake/WarmpoolInstall.cmake), when
# CMAKE_INSTALL_PREFIX is the prefix this install was given. Writes WARMPOOL_TEMPLATE as
# WARMPOOL_OUTPUT_NAME into WARMPOOL_OUTPUT_DIR, with @WARMPOOL_PREFIX@, @WARMPOOL_FULL_BINDIR@,
# @WARMPOOL_FULL_LIBDIR@, @WARMPOOL_FULL_INCLUDEDIR@ and @WARMPOOL_VERSION@ filled in, and
# records it in install_manifest.txt as file(INSTALL) would. @WARMPOOL_PKG_LIBDIR@ and
# @WARMPOOL_PKG_INCLUDEDIR@ are the same directories written from ${prefix} where they are under
# the prefix, as a pkg-config file writes them (so `pkg-config --define-prefix` can move them).
#
# DESTDIR is only where files are staged (a package build, a chroot), never where they are
# used, so the paths written into the file leave it out while the file is written under it.
set(WARMPOOL_PREFIX "${CMAKE_INSTALL_PREFIX}")
foreach(dir BINDIR LIBDIR INCLUDEDIR)
    if(IS_ABSOLUTE "${WARMPOOL_${dir}}")
        set(WARMPOOL_FULL_${dir} "${WARMPOOL_${dir}}")
        set(WARMPOOL_PKG_${dir} "${WARMPOOL_${dir}}")
    else()
        set(WARMPOOL_FULL_${dir} "${CMAKE_INSTALL_PREFIX}/${WARMPOOL_${dir}}")
        set(WARMPOOL_PKG_${dir} "\${prefix}/${WARMPOOL_${dir}}")
    endif()
endforeach()
if(IS_ABSOLUTE "${WARMPOOL_OUTPUT_DIR}")
    set(output "$ENV{DESTDIR}${WARMPOOL_OUTPUT_DIR}/${WARMPOOL_OUTPUT_NAME}")
else()
    set(output "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/${WARMPOOL_OUTPUT_DIR}/${WARMPOOL_OUTPUT_NAME}")
endif()
message(STATUS "Installing: ${output}")
configure_file("${WARMPOOL_TEMPLATE}" "${output}" @ONLY)
list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${output}")
