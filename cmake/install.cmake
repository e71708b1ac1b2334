# What `cmake --install build --prefix P` puts under P:
#   bin/metactl, bin/metad (not in a METAD_CLIENT_ONLY build)
#   lib/libmetad_client.a, lib/libmetad_proto.a
#   include/metad/client/*.h          the C++ client ("metad/client/...")
#   include/metad/v1/*.pb.h, *.proto  the generated API and its source
#   lib/cmake/metad_client/           find_package(metad_client CONFIG):
#                                     targets metad::client, metad::proto
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(METAD_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/metad_client)

install(TARGETS metactl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(NOT METAD_CLIENT_ONLY)
  install(TARGETS metad RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

install(TARGETS metad_client metad_proto EXPORT metad_client_targets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/clients/cpp/include/
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${CMAKE_BINARY_DIR}/gen/metad/v1
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/metad
  FILES_MATCHING PATTERN "*.pb.h")
install(DIRECTORY ${CMAKE_SOURCE_DIR}/proto/metad/v1
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/metad
  FILES_MATCHING PATTERN "*.proto")

install(EXPORT metad_client_targets
  NAMESPACE metad::
  FILE metad_clientTargets.cmake
  DESTINATION ${METAD_CMAKE_DIR})
configure_package_config_file(
  ${CMAKE_SOURCE_DIR}/cmake/metad_clientConfig.cmake.in
  ${CMAKE_BINARY_DIR}/metad_clientConfig.cmake
  INSTALL_DESTINATION ${METAD_CMAKE_DIR})
# 0.x: a minor version may break the API.
write_basic_package_version_file(
  ${CMAKE_BINARY_DIR}/metad_clientConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${CMAKE_BINARY_DIR}/metad_clientConfig.cmake
  ${CMAKE_BINARY_DIR}/metad_clientConfigVersion.cmake
  DESTINATION ${METAD_CMAKE_DIR})
