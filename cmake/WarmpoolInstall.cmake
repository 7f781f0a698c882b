# warmpool_install_configured(TEMPLATE DESTINATION NAME): installs TEMPLATE as DESTINATION/NAME,
# filled in when it is installed, not when the build is configured, so that the paths in it
# (@WARMPOOL_FULL_BINDIR@ and the like, cmake/install_configured.cmake) are where this install
# puts things: `cmake --install --prefix P`, and CPack's staging, choose the prefix only then.
# A relative DESTINATION is under the install prefix.
function(warmpool_install_configured template destination name)
    install(CODE "
        set(WARMPOOL_TEMPLATE \"${template}\")
        set(WARMPOOL_OUTPUT_DIR \"${destination}\")
        set(WARMPOOL_OUTPUT_NAME \"${name}\")
        set(WARMPOOL_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
        set(WARMPOOL_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
        set(WARMPOOL_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
        set(WARMPOOL_VERSION \"${PROJECT_VERSION}\")
        include(\"${PROJECT_SOURCE_DIR}/cmake/install_configured.cmake\")
    ")
endfunction()
