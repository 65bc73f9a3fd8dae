/* floor: the CGI floor of figure 5. A CGI program that answers with the
 * bytes of the file FA_FLOOR names (a CGI answer saved whole: headers,
 * blank line, page), with one open, one read and one write: what is left
 * is what every CGI program pays, lighttpd's fork and exec, the loader
 * and libc, and the bytes themselves.
 *   FA_FLOOR=file floor */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static char buf[1 << 20];	/* only the pages the answer fills are touched */

int
main(void)
{
	const char *f = getenv("FA_FLOOR");
	ssize_t n, w, off;
	int fd;

	if (f == NULL || (fd = open(f, O_RDONLY)) == -1)
		return 1;
	/* A regular file gives its whole size in one read; one as big as
	 * the buffer may be longer, and is an error. */
	if ((n = read(fd, buf, sizeof(buf))) <= 0 || n == (ssize_t)sizeof(buf))
		return 1;
	for (off = 0; off < n; off += w)
		if ((w = write(1, buf + off, n - off)) == -1)
			return 1;
	return 0;
}
