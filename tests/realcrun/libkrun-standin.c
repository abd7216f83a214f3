/* TEST STAND-IN for libkrun.so.1, the one piece of the krun stack that cannot exist here.
 *
 * libkrun (a microVM monitor) is not packaged anywhere this project's test machines can reach,
 * and a real microVM is not needed to show the bug: the bug is which file real crun writes and
 * with which mode, and whether the container's user can open it. This library replaces libkrun
 * alone; crun (real upstream code, built from Debian's source tarballs), podman, conmon, the
 * kernel's permission check and the hook are real.
 *
 * crun dlopen()s "libkrun.so.1" and calls krun_set_* to describe the VM, then krun_start_enter()
 * in the container process, after pivot_root and after switching to the container's uid: that is
 * where the real VMM's virtio-fs server opens files for the guest. Here krun_start_enter() does
 * what libkrun's guest init does with /.krun_config.json:
 *   1. open it read-only with the current credentials; on failure go on silently without it
 *      (the real guest init says nothing either: the seed's symptom);
 *   2. environment = process.env of that file only (crun passes an empty envp);
 *   3. argv = process.args, else the krun_set_exec command (crun 1.8.1), else /bin/sh;
 *   4. cwd = process.cwd, else krun_set_workdir; then execvp.
 * Deviations from the real thing: no VM; the workload runs as the container's uid rather than as
 * guest root; the kernel command-line variables (HOME=/, TERM=linux, KRUN_*) are not added.
 * The EACCES it may meet is a real kernel decision on the real file real crun wrote.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#define MAX_CONFIG (4 * 1024 * 1024)
#define MAX_ITEMS 4096

static char *exec_path;
static char **exec_argv;
static char *workdir;

static char **copy_vector (const char *const v[])
{
  size_t n = 0, i;
  char **out;
  while (v && v[n])
    n++;
  out = calloc (n + 1, sizeof (char *));
  for (i = 0; out && i < n; i++)
    out[i] = strdup (v[i]);
  return out;
}

int32_t krun_set_log_level (uint32_t level) { (void) level; return 0; }
int32_t krun_create_ctx (void) { return 0; }
int32_t krun_free_ctx (uint32_t ctx_id) { (void) ctx_id; return 0; }
int32_t krun_set_vm_config (uint32_t ctx_id, uint8_t num_vcpus, uint32_t ram_mib)
{
  (void) ctx_id; (void) num_vcpus; (void) ram_mib;
  return 0;
}
int32_t krun_set_root (uint32_t ctx_id, const char *root_path) { (void) ctx_id; (void) root_path; return 0; }
int32_t krun_set_root_disk (uint32_t ctx_id, const char *disk_path) { (void) ctx_id; (void) disk_path; return 0; }
int32_t krun_set_tee_config_file (uint32_t ctx_id, const char *path) { (void) ctx_id; (void) path; return 0; }

int32_t krun_set_workdir (uint32_t ctx_id, const char *workdir_path)
{
  (void) ctx_id;
  free (workdir);
  workdir = workdir_path ? strdup (workdir_path) : NULL;
  return 0;
}

int32_t krun_set_exec (uint32_t ctx_id, const char *path, const char *const argv[], const char *const envp[])
{
  (void) ctx_id; (void) envp;  /* crun passes an empty envp: the environment comes from the file */
  free (exec_path);
  exec_path = path ? strdup (path) : NULL;
  exec_argv = copy_vector (argv);
  return 0;
}

/* The whole file, or NULL (errno set) when this process may not read it. */
static char *read_config (void)
{
  char *buffer;
  ssize_t got, total = 0;
  int fd = open ("/.krun_config.json", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return NULL;
  buffer = malloc (MAX_CONFIG + 1);
  while (buffer && total < MAX_CONFIG && (got = read (fd, buffer + total, MAX_CONFIG - total)) > 0)
    total += got;
  close (fd);
  if (buffer)
    buffer[total] = '\0';
  return buffer;
}

static char **strings_at (yajl_val root, const char *key)
{
  const char *path[] = { "process", key, NULL };
  yajl_val array = yajl_tree_get (root, path, yajl_t_array);
  char **out;
  size_t i, n;
  if (array == NULL)
    return NULL;
  n = YAJL_GET_ARRAY (array)->len;
  if (n > MAX_ITEMS)
    n = MAX_ITEMS;
  out = calloc (n + 1, sizeof (char *));
  for (i = 0; out && i < n; i++)
    {
      yajl_val item = YAJL_GET_ARRAY (array)->values[i];
      out[i] = YAJL_IS_STRING (item) ? YAJL_GET_STRING (item) : (char *) "";
    }
  return out;
}

int32_t krun_start_enter (uint32_t ctx_id)
{
  static char *empty[] = { NULL };
  static char *shell[] = { (char *) "/bin/sh", NULL };
  char **env = empty, **argv = NULL, *cwd = workdir;
  char *text = read_config ();
  (void) ctx_id;

  if (text)
    {
      char error[256];
      yajl_val root = yajl_tree_parse (text, error, sizeof error);
      if (root)
        {
          const char *cwd_path[] = { "process", "cwd", NULL };
          yajl_val cwd_value = yajl_tree_get (root, cwd_path, yajl_t_string);
          char **from_file = strings_at (root, "env");
          if (from_file)
            env = from_file;
          argv = strings_at (root, "args");
          if (argv && argv[0] == NULL)
            argv = NULL;
          if (cwd_value)
            cwd = YAJL_GET_STRING (cwd_value);
        }
    }
  if (argv == NULL && exec_path)
    {
      size_t n = 0;
      while (exec_argv && exec_argv[n])
        n++;
      argv = calloc (n + 2, sizeof (char *));
      argv[0] = exec_path;
      memcpy (argv + 1, exec_argv, n * sizeof (char *));
    }
  if (argv == NULL)
    argv = shell;
  if (cwd && chdir (cwd) < 0)
    return -errno;
  environ = env;
  execvp (argv[0], argv);
  return -errno;
}
