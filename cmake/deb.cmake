# The Debian packages, built by CPack (scripts/package.sh runs `cpack -G DEB`
# in a build configured with -DCMAKE_INSTALL_PREFIX=/usr), one per install
# component:
#   bin -> offcopy         the command, its man page and bash completion
#   lib -> liboffcopy0     the shared library (named after its SONAME)
#   dev -> liboffcopy-dev  headers, liboffcopy.a, the liboffcopy.so link,
#                          offcopy.pc and the CMake package
# Debian wants each package's /usr/share/doc/PACKAGE/ to hold the copyright
# and changelog.Debian.gz; they are installed only for the packages
# (EXCLUDE_FROM_ALL), not by a plain `cmake --install`.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME offcopy)
set(CPACK_PACKAGE_CONTACT
  "offcopy maintainers <maintainers@users.noreply.r-seed-b5bc7131.example>"
  CACHE STRING "The Debian packages' Maintainer")
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(OFFCOPY_DEB_VERSION ${PROJECT_VERSION}-${CPACK_DEBIAN_PACKAGE_RELEASE})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # NAME_VERSION-RELEASE_ARCH.deb
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL bin lib dev)
set(CPACK_DEBIAN_PACKAGE_SOURCE offcopy)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # Depends from dpkg-shlibdeps
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)  # a shlibs file for liboffcopy0:
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")  # the SONAME marks ABI breaks
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_BIN_PACKAGE_NAME offcopy)
set(CPACK_DEBIAN_BIN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_BIN_DESCRIPTION "copy files, offloading the copy to the filesystem
offcopy is a cp-compatible command that hands each copy to the filesystem
or the storage server whenever they can do it better than the host: a
reflink on btrfs or XFS, an in-kernel or server-side copy_file_range on
ext4, tmpfs, NFS or CIFS.  Only when nothing below can help does it copy
through the host, by splice inside the kernel or an io_uring pipeline.
It copies directory trees in parallel with cp's metadata, can take a
btrfs subvolume as a snapshot, and reports how each byte moved.")

set(CPACK_DEBIAN_LIB_PACKAGE_NAME liboffcopy${OFFCOPY_SOVERSION})
set(CPACK_DEBIAN_LIB_PACKAGE_SECTION libs)
# CPack 3.25 writes no ldconfig trigger (it calls ldconfig in postinst and
# postrm instead, which lintian warns about): cmake/debian/triggers does.
set(CPACK_DEBIAN_LIB_PACKAGE_CONTROL_EXTRA ${CMAKE_CURRENT_LIST_DIR}/debian/triggers)
set(CPACK_DEBIAN_LIB_DESCRIPTION "copy offload library for Linux
liboffcopy copies files and byte ranges the cheapest way the kernel
offers: a reflink, copy_file_range (in-kernel or server-side), splice,
an io_uring pipeline, then pread/pwrite, and reports which mechanism
moved each byte.  It also copies directory trees with their metadata,
and runs asynchronous copies with callbacks, futures or a pollable fd.
.
This package contains the shared library, with a C++ and a C API.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME liboffcopy-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
# The static library needs liburing to link (offcopy.pc, offcopy::uring).
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
  "${CPACK_DEBIAN_LIB_PACKAGE_NAME} (= ${OFFCOPY_DEB_VERSION}), liburing-dev")
set(CPACK_DEBIAN_DEV_DESCRIPTION "copy offload library for Linux - development files
liboffcopy copies files and byte ranges the cheapest way the kernel
offers: a reflink, copy_file_range (in-kernel or server-side), splice,
an io_uring pipeline, then pread/pwrite, and reports which mechanism
moved each byte.
.
This package contains the headers, the static library, offcopy.pc for
pkg-config and the CMake package for find_package(offcopy).")

# changelog.Debian.gz, gzipped as Debian does it (-9n: no name, no time).
# Its date honours SOURCE_DATE_EPOCH, as scdoc's does.
string(TIMESTAMP OFFCOPY_DEB_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file(${CMAKE_CURRENT_LIST_DIR}/debian/changelog.in
               ${PROJECT_BINARY_DIR}/deb/changelog.Debian @ONLY)
execute_process(COMMAND gzip -9nf ${PROJECT_BINARY_DIR}/deb/changelog.Debian
                COMMAND_ERROR_IS_FATAL ANY)
foreach(component bin lib dev)
  string(TOUPPER ${component} c)
  install(FILES ${CMAKE_CURRENT_LIST_DIR}/debian/copyright
                ${PROJECT_BINARY_DIR}/deb/changelog.Debian.gz
          DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${CPACK_DEBIAN_${c}_PACKAGE_NAME}
          COMPONENT ${component} EXCLUDE_FROM_ALL)
endforeach()

include(CPack)
