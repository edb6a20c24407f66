# Stores a freshly compiled TFLM library in the shared cache (run by the tflm project's CMake
# after libofa_tflm.a is built): cmake -DLIB=... -DCONFIG=... -DDEST=<cache>/<key> -P this file.
# The files are copied into a temporary folder beside DEST and renamed into place, so a reader
# never sees a half-written entry; when another build stored the same key first, this copy is
# dropped.
foreach(_var LIB CONFIG DEST)
  if(NOT ${_var})
    message(FATAL_ERROR "ofa_tflm_cache_store.cmake: -D${_var}=... is required")
  endif()
endforeach()
if(EXISTS "${DEST}/libofa_tflm.a")
  return()
endif()
get_filename_component(_parent "${DEST}" DIRECTORY)
file(MAKE_DIRECTORY "${_parent}")
string(RANDOM LENGTH 12 _nonce)
set(_tmp "${DEST}.tmp-${_nonce}")
file(MAKE_DIRECTORY "${_tmp}")
file(COPY_FILE "${LIB}" "${_tmp}/libofa_tflm.a")
file(COPY_FILE "${CONFIG}" "${_tmp}/libofa_tflm.config")
# (a directory renamed onto an existing, non-empty one fails: the first build's entry stays;
# CMake's NO_REPLACE is refused for directories on Linux)
file(RENAME "${_tmp}" "${DEST}" RESULT _renamed)
file(REMOVE_RECURSE "${_tmp}")
if(_renamed STREQUAL "0")
  message(STATUS "ofa-mcu: stored the compiled TFLM library in ${DEST}")
endif()
